"""Symbolic links on a tree's paths, and where each leads on this host.

A container sees a tree (the workspace, a replay's worktree) and nothing around it: a link out
of it leads nowhere there. A past revision's links are the revision's choice: followed on the
host, they would read or write files outside its worktree. Both look at the links the same
way: each path, the folders above it inside the tree, and everything under a folder, without
following a link to find more.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Link:
    """A symbolic link in a tree.

    Attributes:
        path: where it is, relative to the tree.
        target: what it says (`os.readlink`).
        leads: where it leads on this host, every link on the way followed.
    """

    path: str
    target: str
    leads: Path

    def within(self, folder: Path) -> bool:
        """True when the link leads into `folder` (resolved, as `leads` is)."""
        return self.leads.is_relative_to(folder.resolve())

    def __str__(self) -> str:
        return f"{self.path} -> {self.target}"


def on_paths(root: Path, paths: Iterable[str]) -> list[Link]:
    """The links at `paths` (relative to `root`), the folders above them and under them."""
    found: dict[str, Link] = {}
    for path in paths:
        for name in _around(root, Path(path)):
            if name not in found and (root / name).is_symlink():
                found[name] = Link(name, os.readlink(root / name), (root / name).resolve())
    return list(found.values())


def _around(root: Path, path: Path) -> Iterator[str]:
    """`path`'s parents inside `root` (top first), `path`, and the files and folders under it.

    Up to the first link: what is under a link is elsewhere, and is not looked at.
    """
    for depth in range(1, len(path.parts) + 1):
        name = Path(*path.parts[:depth]).as_posix()
        yield name
        if (root / name).is_symlink():
            return
    # os.walk follows no link below its top: a linked folder is listed, not entered.
    for folder, dirs, files in os.walk(root / path):
        for name in [*dirs, *files]:
            yield (Path(folder) / name).relative_to(root).as_posix()
