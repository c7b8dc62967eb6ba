"""The environment's assembly on a real engine, as two clones of one project share it."""

from __future__ import annotations

import uuid

import pytest
from lockstep.images import environment

pytestmark = pytest.mark.docker


def test_a_build_never_removes_the_draft_another_build_still_describes(
    kit, settings, runtime_image, monkeypatch
) -> None:
    """Two clones assembling one environment at once load one draft (its id is its content):
    another build, start to end, while this one describes its draft, leaves that draft be."""
    record = kit.engine.inspect(runtime_image.id)
    # The runtime image's layers and settings: every layer is in the engine, each load is a
    # config alone.
    parts = environment.Environment(runtime_image.tag, record).parts()
    names = [f"layer {number}" for number in range(len(parts))]
    tag = f"{settings.image}:env-clones-{uuid.uuid4().hex[:12]}"
    describe, drafts, theirs = environment.describe, [], []

    def describe_while_another_builds(engine, ref):
        drafts.append(ref)
        if len(drafts) == 1:  # the other clone's whole build, between our load and describe
            theirs.append(environment._load(settings, engine, tag, record, parts, names))
        return describe(engine, ref)

    monkeypatch.setattr(environment, "describe", describe_while_another_builds)
    try:
        ours = environment._load(settings, kit.engine, tag, record, parts, names)

        assert ours.record["Id"] == theirs[0].record["Id"]
        fingerprint = f"{environment.LABEL}.fingerprint"
        assert ours.labels[fingerprint] == runtime_image.fingerprint
    finally:
        kit.remove_images(tag)
    for draft in drafts:
        assert kit.docker("image", "ls", "--quiet", draft).stdout == "", f"{draft} left"
