"""Which image a revision's results were made in, from its lineage."""

from __future__ import annotations

import pytest
from lockstep.errors import LineageError
from lockstep.history import replay
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
