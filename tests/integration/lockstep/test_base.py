"""The Debian base image is reproducible: rebuilding it from its manifest gives the same id."""

from __future__ import annotations

import pytest
from lockstep import base, images

pytestmark = pytest.mark.docker


def test_rebuilding_the_base_from_its_manifest_gives_the_same_image_id(
    kit, settings, runtime_image
) -> None:
    cfg = settings.base
    recipe = base.BaseRecipe(cfg.suite, cfg.packages, settings.path(cfg.manifest), cfg.epoch)
    tag = base.ensure_base(recipe, docker=kit.engine.cli)
    before = kit.image_id(tag)
    manifest = recipe.manifest.read_bytes()
    assert runtime_image.label("base") == f"{tag}@{before}"

    # The runtime images are its children, so this removes the tag and keeps the layers.
    kit.docker("image", "rm", tag)
    assert base.image_id(kit.engine.cli, tag) is None

    assert base.ensure_base(recipe, docker=kit.engine.cli) == tag  # a full mmdebstrap rebuild
    assert kit.image_id(tag) == before
    assert recipe.manifest.read_bytes() == manifest
    # Same base id, same content key: the runtime image is still current and is not rebuilt.
    assert images.find(settings, kit.engine) == runtime_image
