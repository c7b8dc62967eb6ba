"""The builder's commit tag: one per commit, and one per changed tree's inputs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lockstep import git
from lockstep.config import Settings
from lockstep.images import builder


@pytest.fixture
def clones(tmp_path: Path, git_identity) -> tuple[Settings, Settings]:
    """Two clones of one project at one commit, in folders of the same name."""
    origin = tmp_path / "origin"
    origin.mkdir()
    git.init(origin)
    (origin / "poetry.lock").write_text("locked\n")
    git.commit_all(origin, "first")
    roots = [tmp_path / where / "project" for where in ("one", "two")]
    for root in roots:
        subprocess.run(["git", "clone", "--quiet", origin, root], check=True)
    return Settings(root=roots[0], image="p"), Settings(root=roots[1], image="p")


def test_changed_clones_at_one_commit_tag_only_their_own_content(clones):
    one, two = clones
    sha = git.commit(one.root)[:12]
    ours, theirs = "a" * 12, "b" * 12  # their content tags' hex
    # Clean, a commit names its inputs: both clones build one image, under one tag.
    assert builder.commit_tag(one, "runtime", ours) == f"p:git-{sha}"
    assert builder.commit_tag(two, "runtime", ours) == f"p:git-{sha}"

    for settings in clones:
        (settings.root / "poetry.lock").write_text(f"edited in {settings.root.parent.name}\n")

    # Changed, it does not: each clone's image keeps the tag its recorded build checks.
    assert builder.commit_tag(one, "runtime", ours) == f"p:git-{sha}-dirty-{ours}"
    assert builder.commit_tag(two, "runtime", theirs) == f"p:git-{sha}-dirty-{theirs}"
    assert builder.commit_tag(two, "dev", theirs) == f"p-dev:git-{sha}-dirty-{theirs}"
