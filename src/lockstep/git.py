"""The few git facts the kit records: the commit, whether the tree is dirty, files at a revision."""

from __future__ import annotations

from pathlib import Path

from lockstep import shell
from lockstep.errors import CommandError, LockstepError


def commit(root: Path) -> str:
    """The full sha of HEAD, or "" in a repository with no commit yet."""
    proc = shell.run(
        ["git", "rev-parse", "--verify", "--quiet", "HEAD"],
        cwd=root,
        capture=True,
        quiet=True,
        check=False,
    )
    return proc.stdout.strip()


def is_dirty(root: Path) -> bool:
    """True when tracked or untracked files differ from HEAD."""
    return bool(
        shell.output(["git", "status", "--porcelain", "--untracked-files=normal"], cwd=root)
    )


def show(root: Path, rev: str, path: str) -> str:
    """The text of `path` at revision `rev`."""
    try:
        return shell.output(["git", "show", f"{rev}:{path}"], cwd=root)
    except CommandError as exc:
        raise LockstepError(f"{path} not found at {rev}", "check the revision name") from exc
