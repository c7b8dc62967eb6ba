"""Which source ran: the git tree of `src/` a run's container saw, and its files, kept in git.

The images hold no source: a run mounts the workspace, whose `src/` may hold changes not yet
committed. Each run records the tree id git would give `src/` as it was then
(`git.working_tree_id`), and keeps that tree's file list (each file's blob id) in
`reports/sources/<tree>.txt`, next to the lineage. A rerun then says whether a revision's
committed `src/` is the one that ran, and if not, which files differ, on any clone: the list
travels with the revision, the working tree that made it need not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lockstep import git
from lockstep.errors import LockstepError
from lockstep.files import atomic_write

FOLDER = "reports/sources"
# What the containers take from the workspace, on their PYTHONPATH.
SOURCE = "src"


def tree(root: Path) -> str | None:
    """The tree id of the workspace's `src/` as it is now; None outside git or with no src/."""
    return git.working_tree_id(root, SOURCE)


def path(root: Path, tree_id: str) -> Path:
    """Where the project keeps the file list of a source tree."""
    return root / FOLDER / f"{tree_id}.txt"


def keep(root: Path, tree_id: str | None) -> None:
    """Write the file list of a source tree that ran, unless it is there (or unknown)."""
    target = path(root, tree_id) if tree_id else None
    if target is None or target.exists():
        return
    files = git.tree_files(root, tree_id)
    if files is not None:
        atomic_write(target, render(files).encode())


def render(files: dict[str, str]) -> str:
    """A file list as kept: `<blob id> src/<path>` per line, sorted by path."""
    return "".join(f"{blob} {SOURCE}/{name}\n" for name, blob in sorted(files.items()))


def parse(text: str) -> dict[str, str]:
    """A kept file list, by path under src/, with each blob id."""
    rows = (line.split(" ", 1) for line in text.splitlines() if line.strip())
    return {name.removeprefix(f"{SOURCE}/"): blob for blob, name in rows}


def prune(root: Path, trees: set[str]) -> None:
    """Remove the file lists of source trees no stage's lineage names any more."""
    folder = root / FOLDER
    if not folder.is_dir():
        return
    for stale in folder.glob("*.txt"):
        if stale.stem not in trees:
            stale.unlink()


@dataclass(frozen=True)
class Check:
    """How the source a run recorded compares with a revision's committed `src/`.

    Attributes:
        ran: the recorded tree id; None for a record made before the kit kept it.
        committed: the revision's `src/` tree id.
        differing: the files that differ (changed, added or removed); None when the recorded
            tree's file list is to be had nowhere.
    """

    ran: str | None
    committed: str | None
    differing: tuple[str, ...] | None = ()

    @property
    def same(self) -> bool:
        """Whether the committed source is the one that ran."""
        return self.ran is not None and self.ran == self.committed

    def describe(self) -> str:
        """One phrase for a verdict."""
        if self.ran is None:
            return "not recorded (a record made before the kit kept it)"
        if self.same:
            return f"the committed src/ is the one that ran ({self.ran[:12]})"
        if self.differing is None:
            return (
                f"the committed src/ is not the one that ran ({self.ran[:12]}); "
                "its file list is not kept, so which files differ is unknown"
            )
        names = ", ".join(f"{SOURCE}/{name}" for name in self.differing)
        return f"the committed src/ differs from the one that ran ({self.ran[:12]}): {names}"


def check(root: Path, commit: str, ran: str | None) -> Check:
    """Compare the source tree a run recorded with `commit`'s `src/`, file by file."""
    committed = git.tree_id(root, commit, SOURCE)
    if ran is None or ran == committed:
        return Check(ran, committed)
    theirs = recorded_files(root, commit, ran)
    if theirs is None:
        return Check(ran, committed, None)
    ours = (git.tree_files(root, committed) if committed else None) or {}
    differing = sorted(
        name for name in ours.keys() | theirs.keys() if ours.get(name) != theirs.get(name)
    )
    return Check(ran, committed, tuple(differing))


def recorded_files(root: Path, commit: str, tree_id: str) -> dict[str, str] | None:
    """The file list of a source tree: kept at `commit`, else from git's objects here."""
    try:
        return parse(git.show(root, commit, f"{FOLDER}/{tree_id}.txt"))
    except LockstepError:
        return git.tree_files(root, tree_id)
