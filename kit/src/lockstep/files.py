"""Files: atomic writes, a lock for the toolchain, and the system's errors about files in one line.

A write goes to a temp file beside the target, then a rename: a reader (or a crash, or a full
disk) never sees half a file, and the previous content survives any failure.
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
    if exc.errno == errno.ENOSPC:
        return f"{reason}{where}; free some disk space and run again (nothing was replaced)"
    return f"{reason}{where}"


def _owner(filename: str | None) -> str:
    """` (owned by uid N)` for a file that exists, else ""."""
    try:
        return f" (owned by uid {os.stat(filename).st_uid})" if filename else ""
    except OSError:
        return ""
