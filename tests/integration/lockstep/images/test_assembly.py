"""`assembly.present` against a real engine: which leading layers some image already has."""

from __future__ import annotations

import pytest
from lockstep import config
from lockstep.images import assembly, manifest

pytestmark = pytest.mark.docker

GONE = "sha256:" + "0" * 64


def test_a_candidate_removed_meanwhile_leaves_the_others_counted(kit) -> None:
    """Another build or a prune may remove a listed image before it is inspected: the ones
    still there count, and nothing fails (a parallel CI run once stopped here)."""
    recorded = manifest.recorded_base(config.load(kit.snapshot()))
    layers = kit.engine.inspect(recorded.image)["RootFS"]["Layers"]
    digests = [*layers, "sha256:" + "1" * 64]

    assert assembly.present(kit.engine, digests, [GONE, recorded.image]) == len(layers)
    assert assembly.present(kit.engine, digests, [GONE]) == 0
    assert assembly.present(kit.engine, digests, []) == 0
