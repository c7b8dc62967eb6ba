"""Every git command the kit runs.

The facts it records (the commit, a dirty tree, files at a revision), revisions and tags,
worktrees for replays, and the commits it makes for the user.
"""

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


def is_repository(root: Path) -> bool:
    """True when `root` is inside a git working tree."""
    proc = shell.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=root, capture=True, quiet=True, check=False
    )
    return proc.returncode == 0


def init(root: Path) -> None:
    """`git init` a new repository."""
    shell.run(["git", "init", "--quiet"], cwd=root)


def tags(root: Path, pattern: str) -> list[str]:
    """Tags matching a glob, oldest first."""
    listed = shell.output(["git", "tag", "--list", "--sort=creatordate", pattern], cwd=root)
    return listed.splitlines()


def tag(root: Path, name: str, rev: str = "HEAD") -> None:
    """Tag a revision."""
    shell.run(["git", "tag", name, rev], cwd=root)


def commit_all(root: Path, message: str, *, machine: bool = False) -> None:
    """Stage every change and commit it.

    Args:
        root: the working tree.
        message: the commit message.
        machine: a commit the kit makes on its own (a promoted challenger): when git has no
            identity set, commit as "lockstep" rather than fail.

    Raises:
        CommandError: git refused (no identity, nothing to commit, a hook).
    """
    identity: list[str] = []
    if machine:
        configured = shell.run(
            ["git", "config", "user.name"], cwd=root, capture=True, quiet=True, check=False
        )
        if not configured.stdout.strip():
            identity = ["-c", "user.name=lockstep", "-c", "user.email=lockstep@localhost"]
    shell.run(["git", "add", "--all", "."], cwd=root, quiet=True)
    shell.run(["git", *identity, "commit", "--quiet", "--no-verify", "-m", message], cwd=root)


def changed_files(root: Path) -> list[str]:
    """Paths that differ from HEAD, untracked ones included."""
    # Not shell.output: its strip would eat the leading space of the first " M path" line.
    status = shell.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=root,
        capture=True,
        quiet=True,
    ).stdout
    return sorted(line[3:] for line in status.splitlines())


def unmerged_files(root: Path) -> list[str]:
    """Paths left with merge conflicts."""
    listed = shell.output(["git", "diff", "--name-only", "--diff-filter=U"], cwd=root)
    return sorted(set(listed.splitlines()))


def expand(root: Path, word: str) -> list[str]:
    """A revision, or every tag a glob (`model/*`) matches, oldest first."""
    if not any(char in word for char in "*?["):
        return [word]
    listed = tags(root, word)
    if not listed:
        raise RevisionError(f"no tag matches {word!r}", "list tags with `git tag`")
    return listed


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
