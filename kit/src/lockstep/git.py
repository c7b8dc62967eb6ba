"""Every git command the kit runs.

The facts it records (the commit, a dirty tree, files at a revision), revisions and tags,
worktrees for replays, and the commits it makes for the user.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lockstep import shell
from lockstep.errors import CommandError, LockstepError, RevisionError


def _probe(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`git ARGS` in `root`, quiet and captured, its exit status left to the caller to read."""
    return shell.run(["git", *args], cwd=root, env=env, capture=True, quiet=True, check=False)


def commit(root: Path) -> str:
    """The full sha of HEAD, or "" in a repository with no commit yet."""
    proc = _probe(root, "rev-parse", "--verify", "--quiet", "HEAD")
    return proc.stdout.strip()


def is_dirty(root: Path) -> bool:
    """True when tracked or untracked files differ from HEAD."""
    return bool(
        shell.output(["git", "status", "--porcelain", "--untracked-files=normal"], cwd=root)
    )


def state(root: Path) -> tuple[str, bool]:
    """`commit` and `is_dirty` at once, from one `git status` (a run records both)."""
    status = shell.output(
        ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=normal"], cwd=root
    ).splitlines()
    # Headers start with "#": `# branch.oid <sha>`, or `(initial)` before the first commit.
    head = next((line[13:] for line in status if line.startswith("# branch.oid ")), "")
    return ("" if head == "(initial)" else head), any(not line.startswith("#") for line in status)


def show(root: Path, rev: str, path: str) -> str:
    """The text of `path` at revision `rev`."""
    try:
        return shell.output(["git", "show", f"{rev}:{path}"], cwd=root)
    except CommandError as exc:
        raise LockstepError(f"{path} not found at {rev}", "check the revision name") from exc


def resolve(root: Path, rev: str) -> str:
    """The full commit sha a revision names."""
    proc = _probe(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if proc.returncode:
        raise RevisionError(f"unknown revision {rev!r}", "check `git log` or `git tag` for it")
    return proc.stdout.strip()


def is_repository(root: Path) -> bool:
    """True when `root` is inside a git working tree."""
    proc = _probe(root, "rev-parse", "--show-toplevel")
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
        configured = _probe(root, "config", "user.name")
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
def worktree(root: Path, commit: str, under: Path | None = None) -> Iterator[Path]:
    """A temporary detached worktree at `commit` (in `under`, else /tmp), removed whatever happens.

    The user's working tree, index and branch are never touched.
    """
    if under:
        under.mkdir(parents=True, exist_ok=True)
    parent = Path(tempfile.mkdtemp(prefix="lockstep-worktree-", dir=under))
    path = parent / "tree"
    shell.run(["git", "worktree", "add", "--detach", "--quiet", path, commit], cwd=root)
    try:
        yield path
    finally:
        _probe(root, "worktree", "remove", "--force", str(path))
        _probe(root, "worktree", "prune")
        with contextlib.suppress(OSError):
            parent.rmdir()


def identity_env(root: Path) -> dict[str, str]:
    """The author and committer git would use here, as GIT_* variables; empty when unknown.

    For git clients that read no configuration of the user's (DVC in a container), so that
    their commits name the same person as the user's own.
    """
    env = {}
    for role in ("AUTHOR", "COMMITTER"):
        proc = _probe(root, "var", f"GIT_{role}_IDENT")
        match = re.fullmatch(r"(.*) <(.*)> \d+ [+-]\d{4}", proc.stdout.strip())
        if proc.returncode == 0 and match:
            env[f"GIT_{role}_NAME"], env[f"GIT_{role}_EMAIL"] = match.groups()
    return env


def refs(root: Path, prefix: str) -> dict[str, str]:
    """Every ref under `prefix` (`refs/exps/`), with the object it names."""
    listed = shell.output(
        ["git", "for-each-ref", "--format=%(objectname) %(refname)", prefix], cwd=root
    )
    return {ref: sha for sha, ref in (line.split(" ", 1) for line in listed.splitlines())}


def put_files(root: Path, ref: str, paths: list[str]) -> str:
    """Make `ref` name its commit with the working tree's `paths` in it; return the commit.

    The new commit keeps the old one's parents, author, committer, dates and message, so it
    differs only by those files; it is the old commit when they were already there as they are
    now. The ref moves only if nobody moved it meanwhile.
    """
    old = resolve(root, ref)
    with tempfile.TemporaryDirectory(prefix="lockstep-index-") as folder:
        # A scratch index: the user's own index and working tree stay as they are.
        index = {"GIT_INDEX_FILE": str(Path(folder) / "index")}
        shell.run(["git", "read-tree", old], cwd=root, env=index, quiet=True)
        for path in paths:
            blob = shell.output(["git", "hash-object", "-w", "--", path], cwd=root)
            cacheinfo = f"100644,{blob},{path}"
            update = ["git", "update-index", "--add", "--cacheinfo", cacheinfo]
            shell.run(update, cwd=root, env=index, quiet=True)
        tree = shell.output(["git", "write-tree"], cwd=root, env=index)
    # The old commit object with only its tree line changed: all else stays byte for byte.
    raw = shell.run(["git", "cat-file", "commit", old], cwd=root, capture=True, quiet=True).stdout
    if raw.startswith(f"tree {tree}\n"):
        return old
    rewritten = re.sub(r"\Atree [0-9a-f]+\n", f"tree {tree}\n", raw)
    new = shell.output(
        ["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=root, input=rewritten
    )
    message = f"lockstep: add {' '.join(paths)}"
    shell.run(["git", "update-ref", "-m", message, ref, new, old], cwd=root)
    return new


def working_tree_id(root: Path, folder: str) -> str | None:
    """The git tree id `folder` would have if the working tree were committed now.

    Hashed as git hashes: the tracked files as they are on disk, plus new ones git would add (not
    ignored), in a scratch index so the user's own index is never touched. None when `folder`
    holds nothing git would commit, or `root` is no git working tree.
    """
    with tempfile.TemporaryDirectory(prefix="lockstep-index-") as scratch:
        index = Path(scratch) / "index"
        found = _probe(
            root, "rev-parse", "--path-format=absolute", "--git-path", "index", "--show-prefix"
        )
        if found.returncode:
            return None
        # The prefix: `root` may be a folder of the repository, and write-tree names from its top.
        real, _, above = found.stdout.partition("\n")
        real = Path(real)
        if real.exists():
            # A copy, for its file stats: git then rehashes only the files that changed. With
            # the index's own time too: git rehashes a file as new as the index ("racily
            # clean"), and a copy dated now would hide an edit made in the same second.
            shutil.copy2(real, index)
        env = {"GIT_INDEX_FILE": str(index)}
        added = _probe(root, "add", "--all", "--", folder, env=env)
        prefix = f"--prefix={above.strip()}{folder.rstrip('/')}/"
        written = _probe(root, "write-tree", prefix, env=env)
        if added.returncode or written.returncode:
            return None
        return written.stdout.strip()


def tree_files(root: Path, tree: str) -> dict[str, str] | None:
    """Every file of a tree (`<commit>:<folder>` or a tree id), by path in it, with its blob id.

    None when the repository does not have that tree.
    """
    proc = _probe(root, "ls-tree", "-r", "-z", tree)
    if proc.returncode:
        return None
    entries = (line.split("\t", 1) for line in proc.stdout.split("\0") if line)
    return {path: meta.split()[2] for meta, path in entries}


def links(root: Path, commit: str) -> list[str]:
    """The paths git stores as symbolic links at `commit` (mode 120000)."""
    listed = shell.output(["git", "ls-tree", "-r", "-z", commit], cwd=root)
    entries = (line.split("\t", 1) for line in listed.split("\0") if line)
    return [path for meta, path in entries if meta.startswith("120000 ")]


def exists(root: Path, rev: str, path: str) -> bool:
    """True when revision `rev` has `path` (a file or a folder)."""
    return _probe(root, "cat-file", "-e", f"{rev}:./{path}").returncode == 0


def tree_id(root: Path, rev: str, folder: str) -> str | None:
    """The tree id of `folder` at revision `rev`; None when it has none."""
    proc = _probe(root, "rev-parse", "--verify", "--quiet", f"{rev}:./{folder}")
    return proc.stdout.strip() or None
