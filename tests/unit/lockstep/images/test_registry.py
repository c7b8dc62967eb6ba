"""The image tags releases give in the registry."""

from __future__ import annotations

import pytest
from lockstep.images import registry


@pytest.mark.parametrize(
    ("release", "tag"),
    [
        ("model/v3", "model-v3"),
        ("model/2026-12@rc1", "model-2026-12-rc1"),
        ("model/v1.2_final", "model-v1.2_final"),
        ("model/" + "x" * 200, ("model-" + "x" * 200)[:128]),
    ],
)
def test_a_release_becomes_a_valid_image_tag(release, tag):
    assert registry.image_tag(release) == tag
