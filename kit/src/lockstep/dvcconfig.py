"""DVC's settings the kit reads and sets: a checkout's cache, a worktree's local config.

Worktrees of the project (replays, reruns, sweep points, refreshes) share the checkout's cache,
and a container that sees a worktree but not the repository its .git names must run DVC
without git. Both are settings of the worktree's `.dvc/config.local`, which git never tracks.
"""

from __future__ import annotations

from pathlib import Path

from lockstep import shell


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
