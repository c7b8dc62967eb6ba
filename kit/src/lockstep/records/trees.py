"""The files a signed record names: in the workspace, or at a git revision.

Signing reads the workspace a run left; verifying reads a revision, with no network. Both see
a file tree the same way: the files under a path, a file's bytes, its sha256, and the subjects
of a run record (`dvc.lock` and every file output it records).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from lockstep import dvccache, git, yamltext
from lockstep.errors import AttestationError, first_line
from lockstep.records import lineage

LOCK = "dvc.lock"


class Workspace:
    """The files of the working tree, as a run left them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = "in the workspace"
        self.remedy = "`dvc checkout` restores DVC's outputs, `git restore` the others"

    def files(self, path: str) -> list[str]:
        """The file at `path`, or every file under the folder; none when it is missing."""
        target = self.root / path
        if target.is_dir():
            found = (p for p in target.rglob("*") if p.is_file())
            return sorted(p.relative_to(self.root).as_posix() for p in found)
        return [path] if target.is_file() else []

    def open(self, path: str) -> BinaryIO:
        """A file, opened for reading bytes."""
        return (self.root / path).open("rb")

    def check_cache(self, path: str) -> None:
        """Nothing: a workspace file is read as it is, never from the DVC cache."""


class Revision:
    """The files of a git revision: from its git tree, DVC's outputs from the local DVC cache.

    Git's files are read from git, never through DVC, which parses dvc.lock first: a damaged one
    must be reported as a file that differs, not as DVC's error. DVC is told of no remote, so
    nothing is fetched: a file missing from the cache is reported missing (`invoke pull REV`),
    and one that differs is checked in the cache (`check_cache`).
    """

    def __init__(self, repo: Any, rev: str) -> None:
        self.repo, self.git, self.dvc = repo, repo.fs, repo.dvcfs
        self.rev, self.where = rev, f"at {rev}"
        self.remedy = f"`invoke pull {rev}` brings it"

    def files(self, path: str) -> list[str]:
        """The file at `path`, or every file under the folder; none when it is missing."""
        with self._dvc_errors(path):
            fs = self._fs(path)
            if fs.isdir(path):
                return sorted(name.removeprefix("/") for name in fs.find(path))
            return [path] if fs.isfile(path) else []

    def open(self, path: str) -> BinaryIO:
        """A file, opened for reading bytes."""
        with self._dvc_errors(path):
            return self._fs(path).open(path, "rb")

    def check_cache(self, path: str) -> None:
        """Check a DVC output's files in the cache, for a file read from it that differs.

        Raises:
            DamagedCacheError: the cache's copy is damaged (and now removed from it).
        """
        if self._fs(path) is self.dvc:
            again = f"`invoke pull {self.rev}` fetches it again, then verify again"
            dvccache.check(self.repo, dvccache.tracked(self.dvc, path), lambda damaged: again)

    def _fs(self, path: str) -> Any:
        return self.git if self.git.exists(path) else self.dvc

    @contextlib.contextmanager
    def _dvc_errors(self, path: str) -> Iterator[None]:
        from dvc.exceptions import DvcException

        try:
            yield
        except DvcException as exc:
            reason = first_line(exc)
            raise AttestationError(
                f"DVC cannot read {path} {self.where}: {reason}",
                "check the revision's dvc.yaml with `dvc status`",
            ) from None


Tree = Workspace | Revision


@contextlib.contextmanager
def tree_at(root: Path, rev: str) -> Iterator[Tree]:
    """The project's files at a revision, or in the workspace when `rev` is empty."""
    if not rev:
        yield Workspace(root)
        return
    from dvc.repo import Repo  # heavy; only verification reads a revision

    commit = git.resolve(root, rev)  # an unknown revision says so, in one line
    with Repo(str(root), rev=commit, config={"core": {"remote": ""}}) as repo:
        yield Revision(repo, rev)


def read(tree: Tree, path: str) -> bytes:
    """A whole file of the tree."""
    with _opened(tree, path) as handle:
        return handle.read()


def sha256(tree: Tree, path: str) -> str:
    """A file's sha256, read in chunks (a model can be large)."""
    with _opened(tree, path) as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@contextlib.contextmanager
def _opened(tree: Tree, path: str) -> Iterator[BinaryIO]:
    try:
        handle = tree.open(path)
    except FileNotFoundError:
        raise AttestationError(f"{path} {tree.where} is missing", tree.remedy) from None
    with handle:
        yield handle


def subjects(tree: Tree) -> dict[str, str]:
    """The sha256 of dvc.lock and of every file output it records, by relative path."""
    text = read(tree, LOCK)
    found = {LOCK: hashlib.sha256(text).hexdigest()}
    for output in sorted(lineage.output_hashes(yamltext.load(text.decode()) or {})):
        found.update({name: sha256(tree, name) for name in tree.files(output)})
    return found
