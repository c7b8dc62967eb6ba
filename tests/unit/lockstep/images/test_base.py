"""The base ladder's pure parts: tags, the recipe from settings, and how a base describes
itself."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from lockstep import config, paths
from lockstep.errors import DiskFullError
from lockstep.images import base, debs, prefetch, rootfs
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


def test_deb_files_that_fill_the_disk_are_not_kept_and_come_whole_once_freed(
    tmp_path: Path, small_disk
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.lockstep]\nimage = "x"\n')
    settings = config.load(tmp_path)
    recipe = base.recipe(settings)
    debs_ = {f"{name}_1.0_amd64.deb": os.urandom(3_000_000) for name in debs.TOOLS}

    def downloaded_early() -> None:
        """The tools' .deb files, as the early download leaves them (no mirror needed)."""
        early = tmp_path / paths.PREFETCH
        (early / "debs" / "tools").mkdir(parents=True)
        prefetch.live_mirror(settings.base).write(early)
        (early / "lock").touch()
        for name, data in debs_.items():
            (early / "debs" / "tools" / name).write_bytes(data)

    # The project's disk is not the download's: the files are copied, and do not all fit.
    disk = small_disk(tmp_path / "docker" / "base", 4)
    downloaded_early()
    with pytest.raises(DiskFullError) as caught:
        base.ensure_tools(tmp_path, recipe)

    folder = tmp_path / debs.TOOLS_FOLDER
    assert str(caught.value) == (
        f"No space left on device while putting the .deb files in {folder}; "
        "free some disk space (6 MB needed) and run again (nothing was replaced)"
    )
    # Not one truncated .deb the next build would take for the recorded set.
    assert [path for path in disk.path.rglob("*") if path.is_file()] == []
    disk.resize(16)
    downloaded_early()
    base.ensure_tools(tmp_path, recipe)
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == debs_
