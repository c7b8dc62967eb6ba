"""The few git facts the kit records: the commit, whether the tree is dirty, files at a revision."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lockstep import shell
from lockstep.errors import CommandError, LockstepError, RevisionError


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


def resolve(root: Path, rev: str) -> str:
    """The full commit sha a revision names."""
    proc = shell.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        cwd=root,
        capture=True,
        quiet=True,
        check=False,
    )
    if proc.returncode:
        raise RevisionError(f"unknown revision {rev!r}", "check `git log` or `git tag` for it")
    return proc.stdout.strip()


def expand(root: Path, word: str) -> list[str]:
    """A revision, or every tag a glob (`model/*`) matches, oldest first."""
    if not any(char in word for char in "*?["):
        return [word]
    listed = shell.output(["git", "tag", "--list", "--sort=creatordate", word], cwd=root)
    if not listed:
        raise RevisionError(f"no tag matches {word!r}", "list tags with `git tag`")
    return listed.splitlines()


@contextlib.contextmanager
def worktree(root: Path, commit: str) -> Iterator[Path]:
    """A temporary detached worktree at `commit`, removed whatever happens.

    The user's working tree, index and branch are never touched.
    """
    parent = Path(tempfile.mkdtemp(prefix="lockstep-worktree-"))
    path = parent / "tree"
    shell.run(["git", "worktree", "add", "--detach", "--quiet", path, commit], cwd=root)
    try:
        yield path
    finally:
        shell.run(
            ["git", "worktree", "remove", "--force", path],
            cwd=root,
            quiet=True,
            check=False,
            capture=True,
        )
        shell.run(["git", "worktree", "prune"], cwd=root, quiet=True, check=False)
        with contextlib.suppress(OSError):
            parent.rmdir()
