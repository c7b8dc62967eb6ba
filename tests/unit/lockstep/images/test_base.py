"""The base ladder's pure parts: tags, the recipe from settings, and how a base describes
itself."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lockstep import config
from lockstep.images import base, rootfs
from lockstep.images.manifest import Manifest


def test_tag_follows_what_the_image_depends_on_not_the_recorded_id(tmp_path: Path) -> None:
    recipe = rootfs.BaseRecipe("bookworm", ("python3",), tmp_path / "packages.lock", 1700000000)
    one = Manifest("bookworm", {"libc6": "1", "python3": "3"})
    tag = base.tag_for(recipe, one)
    assert tag.startswith("lockstep-base:") and len(tag.split(":")[1]) == 12
    assert base.tag_for(recipe, Manifest("bookworm", {"python3": "3", "libc6": "1"})) == tag
    assert base.tag_for(recipe, dataclasses.replace(one, image="sha256:" + "f" * 64)) == tag
    assert base.tag_for(recipe, dataclasses.replace(one, tools={"git": "2"})) == tag
    assert base.tag_for(recipe, Manifest("bookworm", {"libc6": "2", "python3": "3"})) != tag
    assert base.tag_for(recipe, Manifest("trixie", one.packages)) != tag
    assert base.tag_for(dataclasses.replace(recipe, epoch=1), one) != tag
    assert base.tag_for(dataclasses.replace(recipe, packages=("python3", "libc6")), one) != tag


def test_recipe_reads_the_settings(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.lockstep]\nimage = "x"\n[tool.lockstep.base]\nmirrors = ["http://127.0.0.1:9/d"]\n'
        'snapshot = "20261128T000000Z"\nsnapshot_mirrors = ["http://127.0.0.1:9/{snapshot}"]\n'
    )
    r = base.recipe(config.load(tmp_path))
    assert r.manifest == tmp_path / "docker/base/packages.lock"
    assert r.mirrors == ("http://127.0.0.1:9/d",)
    assert (r.snapshot, r.snapshot_mirrors) == (
        "20261128T000000Z",
        ("http://127.0.0.1:9/{snapshot}",),
    )


def test_a_base_describes_its_rung_and_its_drift() -> None:
    exact = base.Base("lockstep-base:x", "sha256:1", "loaded from the DVC remote")
    assert exact.exact
    assert exact.describe() == "base: loaded from the DVC remote (exact)"
    drifted = dataclasses.replace(
        exact, source="rebuilt from the live mirror", changes=("libzstd1 1 -> 1+deb12u1",)
    )
    assert not drifted.exact
    assert drifted.describe() == (
        "base: rebuilt from the live mirror, 1 Debian package differs from the recorded "
        "versions: libzstd1 1 -> 1+deb12u1"
    )
    other_id = dataclasses.replace(exact, note="image id 2 is not the recorded 1")
    assert other_id.describe() == (
        "base: loaded from the DVC remote, image id 2 is not the recorded 1"
    )
