"""Files: atomic writes, a lock for the toolchain, and the system's errors about files in one line.

A write goes to a temp file beside the target, then a rename: a reader (or a crash, or a full
disk) never sees half a file, and the previous content survives any failure. A full disk is
said one way wherever it happens, in the kit's own writes or in a command's (`space_for`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lockstep.errors import DiskFullError

# A full disk, and a full quota: the same remedy.
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
# How commands say it (the C library's words, which Python, apt, docker and uv print too).
_NO_SPACE_WORDS = ("no space left on device", "disk quota exceeded")
_FREE_SPACE = "free some disk space{needed} and run again (nothing was replaced)"


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        # mkstemp creates 0600 files; results are meant to be shared like any other file.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def exclusive(path: Path, waiting: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block; print `waiting` once if another holds it.

    The kernel's lock (fcntl), not filelock as `lockstep.workspace` takes: the launcher takes
    this one before any package is installed. The kernel drops it when its process dies, so a
    killed holder never leaves it stale.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"lockstep: {waiting}", file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def describe_os_error(exc: OSError) -> str:
    """An operating system error as one line: what failed, on which file, and what to do."""
    where = f": {exc.filename}" if exc.filename else ""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM):
        owner = _owner(exc.filename)
        return (
            f"{reason}{where}{owner}; give the file back to your user "
            "(a run with sudo leaves root's files: `sudo chown -R $USER .`)"
        )
    if exc.errno in _NO_SPACE:
        return f"{reason}{where}; {_FREE_SPACE.format(needed='')}"
    return f"{reason}{where}"


def is_no_space(error: BaseException) -> bool:
    """Whether an error, or one it came from, is a full disk: the system's, or a command's.

    A command's (a CommandError, a DVC exception) is known by its words, in its message or
    its output (`log`).
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _NO_SPACE:
            return True
        text = f"{seen} {getattr(seen, 'log', '')}".lower()
        if any(words in text for words in _NO_SPACE_WORDS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextlib.contextmanager
def space_for(doing: str, where: Path | str, needed: int | None = None) -> Iterator[None]:
    """A full disk in the block becomes one line: what was written where, and what to do.

    The block must leave nothing half-written to be taken as complete (a temp name, renamed
    when whole): the line says nothing was replaced.

    Args:
        doing: what was being written, e.g. "writing the image layout to".
        where: the path (or place) that filled up.
        needed: bytes the whole write takes, when known.

    Raises:
        DiskFullError: the block failed for want of space.
    """
    try:
        yield
    except DiskFullError:
        raise  # said already, by an inner block that knew more
    except Exception as exc:
        if not is_no_space(exc):
            raise
        raise no_space(doing, where, needed) from exc


def no_space(doing: str, where: Path | str, needed: int | None = None) -> DiskFullError:
    """The one line for a full disk (`space_for`'s), for a caller that finds the place late."""
    amount = f" ({-(-needed // 2**20)} MB needed)" if needed else ""
    message = f"No space left on device while {doing} {where}"
    return DiskFullError(message, _FREE_SPACE.format(needed=amount))


def _owner(filename: str | None) -> str:
    """` (owned by uid N)` for a file that exists, else ""."""
    try:
        return f" (owned by uid {os.stat(filename).st_uid})" if filename else ""
    except OSError:
        return ""
