"""DVC's settings the kit reads and sets: a checkout's cache, a worktree's local config.

Worktrees of the project (replays, reruns, sweep points, refreshes) share the checkout's cache,
and a container that sees a worktree but not the repository its .git names must run DVC
without git. Both are settings of the worktree's `.dvc/config.local`, which git never tracks.
And why a transfer failed, which DVC logs rather than raises: a checkout's
(`short_of_space`), a fetch's (`logged_errors`); and the temp files the failed copies left.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lockstep import shell

# dvc-objects copies a file to `.<22 url-safe characters>.tmp` beside it, then renames it; a
# copy that fails (a full disk) leaves that temp file behind (treeverse/dvc#5355).
_PARTIAL = re.compile(r"\.[A-Za-z0-9_-]{22}\.tmp")


def cache_dir(root: Path) -> Path:
    """The DVC cache of the checkout at `root`, as DVC resolves it.

    DVC's own answer: `cache.dir` from any of its config levels (the local `config.local`
    included), a relative one taken from the config file that sets it, `.dvc/cache` when unset.
    """
    from dvc.repo import Repo  # heavy; only the operations that share a cache need it

    with Repo(str(root)) as repo:
        return Path(repo.cache.local_cache_dir)


def share_cache(tree: Path, cache: Path) -> None:
    """Make the worktree's DVC use `cache` (the checkout's), in its local config."""
    set_local(tree, "cache.dir", str(cache))


def no_scm(tree: Path, on: bool = True) -> None:
    """Tell the worktree's DVC to run without git, or (`on=False`) to use git again.

    A container sees the worktree but not the repository its .git points at: DVC needs no git
    to reproduce. Saving an experiment needs git, on the host.
    """
    if on:
        set_local(tree, "core.no_scm", "true")
    else:
        set_local(tree, "core.no_scm", None)


def set_local(tree: Path, key: str, value: str | None) -> None:
    """Set (None: unset) a key of the worktree's `.dvc/config.local`, through DVC's CLI."""
    change = [key, value] if value is not None else ["--unset", key]
    shell.run(["dvc", "config", "--local", *change], cwd=tree, capture=True, quiet=True)


def short_of_space(root: Path, failed: Iterable[str]) -> int | None:
    """The bytes the outputs `failed` of a checkout in `root` need, when their disk has less free.

    None when it has enough: the checkout failed for another reason. `failed` are paths
    relative to `root`. DVC logs why a file could not be checked out only at debug level, and
    asks "Is your cache up to date?" whatever the cause: the disk's free space tells a full
    disk from a missing object. The temp files the failed copies left are removed first: they
    hold the space a new try needs, and no later checkout removes them.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        # Uninitialized: a project that is no git repository (a copy of one) is read too.
        with Repo(str(root), uninitialized=True) as repo:
            outs = {os.path.relpath(out.fs_path, root): out for out in repo.index.outs}
    except DvcException:
        return None  # DVC cannot read the project: the failure is not the disk's to explain
    wanted = [outs[name] for name in failed if name in outs]
    for out in wanted:
        _remove_partials(Path(out.fs_path))
    needed = sum(out.meta.size or 0 for out in wanted)
    return needed if wanted and shutil.disk_usage(root).free < needed else None


def _remove_partials(output: Path) -> None:
    """Remove DVC's temp files beside an output, and in it when it is a folder."""
    folders = [output.parent, *(Path(folder) for folder, _, _ in os.walk(output))]
    for folder in folders:
        for path in folder.glob(".*.tmp"):
            if _PARTIAL.fullmatch(path.name):
                path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Logged:
    """An error DVC logged: its message (`failed to transfer 'HASH'`) and the exception."""

    message: str
    error: BaseException | None

    def __str__(self) -> str:
        """As DVC's CLI prints it: `failed to transfer 'HASH' - CAUSE`."""
        return self.message + (f" - {self.error}" if self.error else "")


@contextlib.contextmanager
def logged_errors() -> Iterator[list[Logged]]:
    """The errors DVC logs while the block runs, removing the temp files of failed copies.

    A fetch logs each file that failed, with its cause, then raises only a count ("1 files
    failed to download"). A copy's error names its temp file (`filename2`), which DVC leaves.
    """
    found: list[Logged] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            error = record.exc_info[1] if record.exc_info else None
            found.append(Logged(record.getMessage(), error))

    handler = Collect(logging.ERROR)
    logger = logging.getLogger("dvc_data")
    logger.addHandler(handler)
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        for entry in found:
            partial = getattr(entry.error, "filename2", None)
            if partial and _PARTIAL.fullmatch(Path(partial).name):
                Path(partial).unlink(missing_ok=True)
