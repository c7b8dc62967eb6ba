"""Unit tests for the pure parts of lockstep.base: tags, recipes, dpkg status, image assembly."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from lockstep import base, config
from lockstep.errors import BaseImageError
from lockstep.manifest import Manifest

STATUS = """\
Package: adduser
Status: install ok installed
Architecture: all
Version: 3.134
Description: add and remove users and groups
 Version: 9.9 (a continuation line, not a field)

Package: gone
Status: deinstall ok config-files
Version: 1.0

Package: libc6
Status: install ok installed
Version: 2.36-9+deb12u13
"""


def test_parse_dpkg_status_keeps_installed_packages_only() -> None:
    assert base.parse_dpkg_status(STATUS) == {"adduser": "3.134", "libc6": "2.36-9+deb12u13"}


def test_tag_follows_what_the_image_depends_on_not_the_recorded_id(tmp_path: Path) -> None:
    recipe = base.BaseRecipe("bookworm", ("python3",), tmp_path / "packages.lock", 1700000000)
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


def image_config(**changes: object) -> bytes:
    fields: dict[str, object] = {
        "arch": "amd64",
        "epoch": 1700000000,
        "diff_id": "sha256:" + "a" * 64,
        "created_by": "mmdebstrap bookworm",
    }
    fields.update(changes)
    return base.image_config(**fields)  # type: ignore[arg-type]


def test_image_config_is_deterministic_and_complete() -> None:
    data = image_config()
    assert data == image_config()
    assert b" " not in data.replace(b"mmdebstrap bookworm", b"")
    parsed = json.loads(data)
    assert list(parsed) == sorted(parsed)
    assert parsed["architecture"] == "amd64" and parsed["os"] == "linux"
    assert "variant" not in parsed
    assert parsed["created"] == "2023-11-14T22:13:20Z"
    assert parsed["history"] == [
        {"created": "2023-11-14T22:13:20Z", "created_by": "mmdebstrap bookworm"}
    ]
    assert parsed["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + "a" * 64]}
    assert parsed["config"]["Env"] == [f"PATH={base.PATH}"]
    assert parsed["config"]["Cmd"] == ["/bin/bash"]


def test_image_config_maps_architectures() -> None:
    parsed = json.loads(image_config(arch="armhf"))
    assert (parsed["architecture"], parsed["variant"]) == ("arm", "v7")
    with pytest.raises(BaseImageError, match="unsupported architecture"):
        image_config(arch="hppa")


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "layer.tar"
    path.write_bytes(b"x" * 300_000)
    assert base.sha256_file(path) == "sha256:" + hashlib.sha256(b"x" * 300_000).hexdigest()


def write_archive(tmp_path: Path, name: str) -> bytes:
    layer = tmp_path / "layer.tar"
    if not layer.exists():
        with tarfile.open(layer, "w") as tar:
            info = tarfile.TarInfo("./etc/hello")
            info.size = 5
            tar.addfile(info, io.BytesIO(b"hello"))
    data = image_config(diff_id=base.sha256_file(layer))
    archive = tmp_path / name
    base.write_image_archive(archive, layer=layer, config=data, tag="lockstep-base:x", epoch=7)
    return archive.read_bytes()


def test_image_archive_is_deterministic_and_loadable_shape(tmp_path: Path) -> None:
    first = write_archive(tmp_path, "one.tar")
    assert first == write_archive(tmp_path, "two.tar")
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == sorted(m.name for m in members)
        assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(7, 0, 0, "", "")}
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        [entry] = manifest
        assert entry["RepoTags"] == ["lockstep-base:x"]
        config_bytes = tar.extractfile(entry["Config"]).read()  # type: ignore[union-attr]
        assert entry["Config"] == hashlib.sha256(config_bytes).hexdigest() + ".json"
        layer = tar.extractfile(entry["Layers"][0]).read()  # type: ignore[union-attr]
        diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
        assert json.loads(config_bytes)["rootfs"]["diff_ids"] == [diff_id]
