"""The workspace lock, held on the host for the length of a run.

DVC's own lock is keyed by process id, and inside containers every DVC tends to be process 1, so
two containers on one workspace can both believe they hold it. This lock lives on the host: an
flock on `.lockstep/workspace.lock`, released by the kernel when its holder exits, however it
exits, so a crash never leaves a stale lock behind. The file names the holder for the message
a second run prints.

The lock is on the operations themselves (`exclusive`, or `held` inside one), as DVC's
`@locked` is on `reproduce`: however an operation is called, it runs alone on the workspace.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from lockstep import paths
from lockstep.errors import WorkspaceBusyError

if TYPE_CHECKING:
    from lockstep.config import Settings

# The locks this thread's operations hold, by file: an operation another one calls (a repro
# builds the image, a publish pushes) runs under its caller's lock rather than taking it again,
# which the flock would refuse. A context variable: a thread an operation starts holds none.
_HELD: ContextVar[frozenset[Path]] = ContextVar("lockstep_workspace_held", default=frozenset())


P, R = ParamSpec("P"), TypeVar("R")


def exclusive(
    purpose: str,
) -> Callable[[Callable[Concatenate[Settings, P], R]], Callable[Concatenate[Settings, P], R]]:
    """Make an operation on a project (its settings first) hold the workspace lock (`held`)."""

    def decorate(operation: Callable[Concatenate[Settings, P], R]):
        @functools.wraps(operation)
        def run_alone(settings: Settings, *args: P.args, **kwargs: P.kwargs) -> R:
            with held(settings.root, purpose):
                return operation(settings, *args, **kwargs)

        return run_alone

    return decorate


@contextlib.contextmanager
def held(root: Path, purpose: str) -> Iterator[None]:
    """Hold the workspace lock for an operation, unless the operation calling it already does.

    Raises:
        WorkspaceBusyError: another process holds it (`locked`).
    """
    path = (root / paths.WORKSPACE_LOCK).resolve()
    if path in _HELD.get():
        yield
        return
    with locked(root, purpose):
        token = _HELD.set(_HELD.get() | {path})
        try:
            yield
        finally:
            _HELD.reset(token)


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
