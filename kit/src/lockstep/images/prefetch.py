"""The base's `.deb` files downloaded early: on a fresh machine, while the toolchain installs.

On a machine with nothing yet (no `.venv`, an empty engine), the first build waits for Poetry and
the locked environment, and only then for the base's `.deb` files from the mirror. Neither needs
the other. `start`, called by `./inv` just before it installs the environment for a task that
builds, downloads the set the live mirror rung would fetch, in a detached process; the rung
`claimed`s it, waiting for the download if it is still under way. A download that does not
match what the rung asks for (another recipe), that failed, or that is old is passed over, and
the rung downloads as it always did: starting early only ever saves time.

Standard library only (and the kit's modules that are): `./inv` imports it before any
environment exists.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from lockstep import config, engines, paths, shell
from lockstep.errors import LockstepError
from lockstep.images import debs, manifest
from lockstep.shell import say

# A download older than this is not "the live mirror" any more: the rung fetches anew.
MAX_AGE = 3600


class Request(NamedTuple):
    """What the live mirror rung downloads (`debs.download`'s arguments)."""

    suite: str
    include: tuple[str, ...]
    tools: tuple[str, ...]
    mirrors: tuple[str, ...]
    epoch: int

    @classmethod
    def read(cls, folder: Path) -> Request | None:
        """The request a download folder was started for; None when it has none."""
        try:
            fields = json.loads((folder / "request.json").read_text())
        except (OSError, ValueError):
            return None
        return cls(fields["suite"], *map(tuple, fields["lists"]), fields["epoch"])

    def write(self, folder: Path) -> None:
        """Record the request in its download folder."""
        lists = [self.include, self.tools, self.mirrors]
        text = json.dumps({"suite": self.suite, "lists": lists, "epoch": self.epoch})
        (folder / "request.json").write_text(text)


def live_mirror(base: config.BaseSettings) -> Request:
    """The set the live mirror rung fetches for `[tool.lockstep.base]`."""
    packages = tuple(sorted(set(base.packages)))
    return Request(base.suite, packages, debs.TOOLS, tuple(base.mirrors), base.epoch)


def needed(root: Path) -> Request | None:
    """The download a build of `root` will make from the live mirror; None when it will not.

    It will not when the base is pulled from a registry, when a snapshot is configured (that
    rung comes first, with the recorded versions), or when the recorded base is already in the
    engine or its `.deb` files in the project. Other rungs (a registry, the DVC remote) may
    still give the base: the download then only cost bandwidth, and it never holds them back.
    """
    settings = config.load(root)
    base = settings.base
    if not base.bootstrap or base.snapshot:
        return None
    recorded = manifest.read(settings.path(base.manifest))
    if recorded and recorded.image:
        if debs.holds(root / debs.FOLDER, recorded):
            return None
        # Any docker CLI can look: choosing the one that builds (engines.find) takes longer,
        # and names its choice, which the build does.
        engine = engines.Engine(settings.docker_cli() or engines.CANDIDATES[0])
        if engine.inspect(recorded.image) is not None:
            return None
    return live_mirror(base)


def start(root: Path) -> None:
    """Start the live mirror's download in the background, when a build of `root` will need it.

    Nothing is said and nothing fails here: whatever stops the download (no engine, a broken
    pyproject.toml) stops the build too, which says so.
    """
    try:
        request = needed(root)
    except (LockstepError, OSError):
        return
    if request is None:
        return
    folder = root / paths.PREFETCH
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    request.write(folder)
    # Locked here and inherited: the download holds the lock until it ends (its last file
    # descriptor closes), and a rung that comes for the files before then waits on it.
    with (folder / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        kit = Path(__file__).resolve().parents[2]
        shell.detach(
            [sys.executable, "-S", "-m", __name__, root],
            env={"PYTHONPATH": str(kit)},
            keep=lock.fileno(),
        )


@contextlib.contextmanager
def claimed(root: Path, request: Request) -> Iterator[Path | None]:
    """The early download's folder of `.deb` files if it fetched `request`, else None.

    Waits for a download still under way. The folder may be moved away; what is left of the
    download is removed afterwards.
    """
    folder = root / paths.PREFETCH
    try:
        lock = (folder / "lock").open()
    except OSError:
        yield None
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("base: waiting for the .deb files, downloading since the toolchain's install")
            fcntl.flock(lock, fcntl.LOCK_EX)
        fetched = folder / "debs"
        if Request.read(folder) != request:
            found = None
        elif (folder / "failed").is_file():
            say(f"base: the early download failed ({(folder / 'failed').read_text().strip()})")
            found = None
        elif fetched.is_dir() and time.time() - fetched.stat().st_mtime < MAX_AGE:
            say("base: the .deb files were downloaded while the toolchain installed")
            found = fetched
        else:
            found = None
        try:
            yield found
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _download(root: Path) -> None:
    """The detached process: download what `start` recorded, into the download folder."""
    folder = root / paths.PREFETCH
    # A log of its own among the tasks' (the task's goes on meanwhile): this folder goes once
    # the download is taken.
    os.environ.pop(shell.LOG_VARIABLE, None)
    log = shell.start_log(root / paths.LOGS)
    request = Request.read(folder)
    if request is None:
        return
    partial = folder / "debs.partial"
    try:
        debs.download(
            request.suite,
            partial,
            include=request.include,
            tools=request.tools,
            mirrors=request.mirrors,
            epoch=request.epoch,
            unshare=os.geteuid() != 0,
        )
    except LockstepError as exc:
        (folder / "failed").write_text(f"{exc.message}; its log: {log}" if log else exc.message)
        return
    partial.rename(folder / "debs")


if __name__ == "__main__":
    _download(Path(sys.argv[1]))
