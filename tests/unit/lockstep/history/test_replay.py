"""Which image a revision's results were made in, from its lineage; its links out refused."""

from __future__ import annotations

import pytest
from lockstep import git, shell
from lockstep.config import Settings
from lockstep.errors import LineageError, LinkError
from lockstep.history import replay
from lockstep.records import lineage
from lockstep.records.lineage import LineageRecord, StageRun


@pytest.fixture
def run(environment):
    """A factory: a stage's run in an image, in an environment, at a time."""

    def make(image_id, fingerprint="f", ran_at="2026-01-01T00:00:00Z", digest=None) -> StageRun:
        env = environment(image_id=image_id, fingerprint=fingerprint, registry_digest=digest)
        return StageRun(env, {}, ran_at)

    return make


def test_the_recorded_image_is_the_latest_runs_in_one_environment(run):
    record = LineageRecord(
        {
            "fit": run("sha256:new", ran_at="2026-02-01T00:00:00Z"),
            "fetch": run("sha256:old", ran_at="2026-01-01T00:00:00Z"),
            "score": run("sha256:new", ran_at="2026-01-15T00:00:00Z", digest="sha256:d"),
        }
    )
    image_id, found = replay.recorded_image(record, "A")
    assert image_id == "sha256:new"
    # The run that says where the image was pushed.
    assert found.environment.registry_digest == "sha256:d"


def test_stages_from_different_environments_are_refused(run):
    record = LineageRecord({"a": run("sha256:1", "f1"), "b": run("sha256:2", "f2")})
    with pytest.raises(LineageError, match="2 different environments"):
        replay.recorded_image(record, "A")


def test_host_only_lineage_cannot_be_replayed(run):
    with pytest.raises(LineageError, match="ran in an image"):
        replay.recorded_image(LineageRecord({"a": run(None)}), "A")


def test_a_revision_linking_out_of_its_tree_is_refused_before_anything_follows_a_link(
    tmp_path, environment, git_identity
):
    outside = tmp_path / "outside"
    (outside / "empty").mkdir(parents=True)
    (outside / "secret.txt").write_text("known")
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "dvc.lock").write_text("schema: '2.0'\nstages:\n  train:\n    outs: []\n")
    lineage.update(root, ["train"], environment(), lineage.read_dvc_lock(root))
    (root / "README").write_text("")
    (root / "readme").symlink_to("README")  # inside: replayed as it is
    (root / "secret").symlink_to(outside / "secret.txt")
    (root / "data" / "raw").symlink_to(outside / "empty")  # DVC would check its inputs out here
    git.init(root)
    git.commit_all(root, "results, and links out")

    # No engine: the revision is refused before its image is looked for.
    with pytest.raises(LinkError) as refused, replay.replay(Settings(root=root), None, "HEAD"):
        pass

    assert str(refused.value) == (
        f"HEAD links out of its tree: data/raw links to {outside}/empty, secret links to "
        f"{outside}/secret.txt; a replay reads and writes the revision's own files only; replay "
        "a revision that holds the files themselves (DVC-tracked, for data) instead of links "
        "to them"
    )
    assert list((outside / "empty").iterdir()) == []
    assert (outside / "secret.txt").read_text() == "known"
    # The worktree is gone with the refusal.
    assert shell.output(["git", "worktree", "list"], cwd=root).count("\n") == 0
