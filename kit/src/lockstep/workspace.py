"""The workspace lock, held on the host for the length of a run.

DVC's own lock is keyed by process id, and inside containers every DVC tends to be process 1, so
two containers on one workspace can both believe they hold it. This lock lives on the host: an
flock on `.lockstep/workspace.lock`, released by the kernel when its holder exits, however it
exits, so a crash never leaves a stale lock behind. The file names the holder for the message
a second run prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from lockstep import paths
from lockstep.errors import WorkspaceBusyError


@contextlib.contextmanager
def locked(root: Path, purpose: str) -> Iterator[None]:
    """Hold the workspace lock, or raise WorkspaceBusyError at once naming the holder."""
    path = root / paths.WORKSPACE_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceBusyError(
                f"the workspace is busy: {describe(path)}",
                "wait for that run to finish or stop it, then try again",
            ) from None
        handle.seek(0)
        handle.truncate()
        json.dump(_holder(purpose), handle)
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)


def describe(path: Path) -> str:
    """Who holds the lock, as one phrase."""
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        holder = {}
    if not holder:
        return "another run holds it"
    started = time.strftime("%H:%M:%S", time.localtime(holder["started"]))
    return f"`{holder['purpose']}` (pid {holder['pid']} on {holder['host']}) since {started}"


def _holder(purpose: str) -> dict:
    return {
        "purpose": purpose,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.time(),
        "argv": sys.argv,
    }
