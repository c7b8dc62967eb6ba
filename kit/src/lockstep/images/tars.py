"""Layer tars whose bytes depend on the files alone: sorted, clamped times, numeric owners.

A layer's digest is its tar's sha256, and an image's id is the digest of a config that names
its layers' digests: two builds give the same image only if every tar is byte-identical. Tars
that Docker or BuildKit write carry the build's clock and whatever order the files were made
in, so the kit writes its layers itself: members sorted by path (a parent before its children),
every directory listed, times clamped to the image's epoch, owners numeric with no names, PAX
format (long paths), nothing else.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# Directories the kit adds as parents of the files it lays out.
DIRECTORY_MODE = 0o755
CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One member of a layer: its metadata, and how to read a regular file's bytes."""

    info: tarfile.TarInfo
    open: Callable[[], IO[bytes]] | None = None


@dataclass(frozen=True)
class Written:
    """A layer as written: its digest (the image config's diff_id) and its size in bytes."""

    digest: str
    size: int


def from_files(files: dict[str, Path], *, normal_modes: bool = False) -> list[Entry]:
    """Entries for files on disk, keyed by their path in the image (no leading slash).

    Only what the files are counts: type, permission bits, size, content, a symlink's target.
    Directories are implied by the paths and get a fixed mode. With `normal_modes`, a file is
    0755 if anyone may run it and 0644 if not: a checkout's modes follow its user's umask.
    """
    entries = []
    for name, source in files.items():
        info = tarfile.TarInfo(name)
        status = source.lstat()
        info.mode = stat.S_IMODE(status.st_mode)
        if normal_modes:
            info.mode = 0o755 if info.mode & 0o111 else 0o644
        if stat.S_ISLNK(status.st_mode):
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(source)
            entries.append(Entry(info))
        else:
            info.size = status.st_size
            entries.append(Entry(info, lambda source=source: source.open("rb")))
    return entries


def from_tar(stream: IO[bytes]) -> list[Entry]:
    """Entries read from a layer tar that another tool wrote (held in memory: small layers)."""
    entries = []
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            data = tar.extractfile(member).read() if member.isfile() else None
            info = tarfile.TarInfo(member.name)
            for field in ("type", "mode", "uid", "gid", "mtime", "linkname", "size"):
                setattr(info, field, getattr(member, field))
            opener = None if data is None else (lambda d=data: io.BytesIO(d))
            entries.append(Entry(info, opener))
    return entries


def write(out: IO[bytes], entries: Iterable[Entry], epoch: int) -> Written:
    """Write `entries` (plus any parent directory they lack) as a normalised layer tar."""
    hashing = _Hashing(out)
    with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for entry in _sorted_with_parents(entries):
            info = entry.info
            info.mtime = min(int(info.mtime), epoch) if info.mtime else epoch
            info.uname = info.gname = ""
            info.pax_headers = {}
            if entry.open is None:
                tar.addfile(info)
            else:
                with entry.open() as data:
                    tar.addfile(info, data)
    return Written(f"sha256:{hashing.hasher.hexdigest()}", hashing.size)


def copier(path: Path, written: Written) -> Callable[[IO[bytes]], Written]:
    """A writer that copies a layer tar written earlier (to `path`, as `written`)."""

    def copy(out: IO[bytes]) -> Written:
        with path.open("rb") as source:
            shutil.copyfileobj(source, out, CHUNK)
        return written

    return copy


def _sorted_with_parents(entries: Iterable[Entry]) -> Iterator[Entry]:
    by_name = {entry.info.name.strip("/").removeprefix("./"): entry for entry in entries}
    for name in list(by_name):
        parent = os.path.dirname(name)
        while parent and parent not in by_name:
            info = tarfile.TarInfo(parent)
            info.type, info.mode = tarfile.DIRTYPE, DIRECTORY_MODE
            by_name[parent] = Entry(info)
            parent = os.path.dirname(parent)
    # Sorting path components, not strings: "a/b" must come before "a-b/c"'s siblings' children
    # no matter how "-" and "/" compare, and a directory always precedes what it holds.
    for name in sorted(by_name, key=lambda n: n.split("/")):
        entry = by_name[name]
        entry.info.name = name
        yield entry


class _Hashing(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through to `out`."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.hasher, self.size = out, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.hasher.update(data)
        self.size += len(data)
        self.out.write(data)
        return len(data)
