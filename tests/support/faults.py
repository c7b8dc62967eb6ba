"""Faults in the middle of a transfer: a server killed from a thread once its first file lands.

What a killed transfer may leave is checked the way DVC and a registry accept it: an object is
complete when its name is its content's hash. A partial one has a temporary name (DVC's
`.TOKEN.tmp`, a registry's `_uploads/`), never taken for an object.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def whole_files(folder: Path) -> list[Path]:
    """The files under `folder` that DVC names as complete: not its `.TOKEN.tmp` partials."""
    if not folder.exists():
        return []
    return [path for path in folder.rglob("*") if path.is_file() and path.suffix != ".tmp"]


def growing(folder: Path, size: int) -> bool:
    """Whether a file under `folder` has passed `size` bytes (files come and go meanwhile)."""
    for path in folder.rglob("*") if folder.is_dir() else []:
        with contextlib.suppress(OSError):
            if path.stat().st_size > size:
                return True
    return False


@contextlib.contextmanager
def kill_when(landed: Callable[[], bool], kill: Callable[[], None]) -> Iterator[threading.Event]:
    """Call `kill` from a thread as soon as `landed()` holds; the event says it was called."""
    killed, done = threading.Event(), threading.Event()

    def watch() -> None:
        while not done.is_set():
            if landed():
                kill()
                killed.set()
                return
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield killed
    finally:
        done.set()
        thread.join()


def dvc_objects(storage: Path) -> list[Path]:
    """The objects of a DVC cache or remote, each checked whole: named by its content's md5.

    `files/md5/3f/2a...` holds the content whose md5 is 3f2a... (a directory's listing too,
    with `.dir` after its hash).
    """
    objects = whole_files(storage / "files" / "md5")
    for path in objects:
        digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
        assert path.parent.name + path.name.removesuffix(".dir") == digest, f"{path} is partial"
    return objects
