"""The project history the rerun and registry tests share: revisions A and B and their image.

A copy of the project with two revisions: `model/a` (repro, then push) and `model/b` (other
params, repro) on top, checked out on its branch. Made once per session, with the session's
registry server.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lockstep.records import lineage

from tests.support import commands, projects
from tests.support.registry import Registry
from tests.support.sshd import SSHServer

A, B = "model/a", "model/b"
START = "start"  # the first commit: no lineage yet
IMAGE = "credit-model"


@dataclass
class History:
    """A project copy with revisions A (pushed) and B (checked out), and their image."""

    kit: object
    root: Path
    registry: Registry
    image_id: str  # the image A ran in (B too: only params changed)
    digest: str  # its manifest digest in the registry, as A's lineage records it
    pushed: list[str]  # the references `invoke push` pushed

    @property
    def repository(self) -> str:
        return f"{self.registry.address}/{IMAGE}"

    def record(self, rev: str) -> dict:
        return json.loads(self.kit.git(self.root, "show", f"{rev}:{lineage.PATH}"))

    def commit_variant(self, tag: str, base: str, edit: Callable[[Path], None]) -> str:
        """Tag a commit made on top of `base` by `edit(tree)`, without touching the checkout.

        Made in a temporary worktree, removed afterwards; reused when the tag exists.
        """
        if self.kit.git(self.root, "tag", "--list", tag).strip():
            return tag
        tree = Path(tempfile.mkdtemp(prefix="lockstep-it-variant-")) / "tree"
        self.kit.git(self.root, "worktree", "add", "--detach", "--quiet", str(tree), base)
        try:
            edit(tree)
            self.kit.git(tree, "commit", "--quiet", "--all", "-m", f"test variant {tag}")
            self.kit.git(tree, "tag", tag)
        finally:
            self.kit.git(self.root, "worktree", "remove", "--force", str(tree))
            shutil.rmtree(tree.parent, ignore_errors=True)
        return tag

    def edit_lineage(self, tag: str, **fields) -> str:
        """A variant of A whose lineage has `fields` set in every stage."""

        def edit(tree: Path) -> None:
            # As a hand edit would: the JSON, not the kit's record type.
            path = tree / lineage.PATH
            record = json.loads(path.read_text())
            for entry in record["stages"].values():
                entry.update(fields)
            path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")

        return self.commit_variant(tag, A, edit)


@pytest.fixture(scope="session")
def history(kit, registry: Registry) -> Iterator[History]:
    """Revision A (train.max_iter 40): repro, push, commit; revision B (learning rate 0.1)
    on top: repro, commit. The copy's `registry` setting names the session's registry, so its
    image is this session's own (the setting is part of the image's inputs), removed at the end.
    """
    root = kit.copy("history")
    kit.archive_debs(root)
    projects.set_registry(root, registry.address)
    projects.set_param(root, "max_iter", "40")  # a quicker fit than the project's
    kit.git(root, "rm", "--quiet", lineage.PATH)
    commands.commit_all(root, "registry, quick params, no lineage yet")
    kit.git(root, "tag", START)
    try:
        yield make_history(kit, root, registry)
    finally:
        projects.remove_images_built_at(kit, kit.git(root, "rev-parse", START).strip())


def make_history(kit, root: Path, registry: Registry) -> History:
    kit.invoke(root, "repro")
    pushed = re.findall(r"docker push (\S+)", kit.invoke(root, "push").stderr)
    commands.commit_all(root, "A: results, pushed")
    kit.git(root, "tag", A)

    projects.set_param(root, "learning_rate", "0.1")
    kit.invoke(root, "repro")
    commands.commit_all(root, "B: other params, results")
    kit.git(root, "tag", B)

    entries = list(json.loads((root / lineage.PATH).read_text())["stages"].values())
    image_ids = {entry["image_id"] for entry in entries}
    assert len(image_ids) == 1, image_ids
    record_a = json.loads(kit.git(root, "show", f"{A}:{lineage.PATH}"))
    digests = {entry["registry_digest"] for entry in record_a["stages"].values()}
    assert len(digests) == 1 and None not in digests, digests
    return History(kit, root, registry, image_ids.pop(), digests.pop(), pushed)


@pytest.fixture(scope="session")
def ssh_server() -> Iterator[SSHServer]:
    """OpenSSH's sshd on 127.0.0.1 at a free port: the DVC remote teammates share."""
    server = SSHServer().start()
    yield server
    server.stop()
