"""Unit tests for the pure parts of lockstep.base: manifests, package diffs, image assembly."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from lockstep import base
from lockstep.base import BaseRecipe
from lockstep.errors import BaseImageError

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


def recipe(tmp_path: Path, **changes: object) -> BaseRecipe:
    fields: dict[str, object] = {
        "suite": "bookworm",
        "packages": ("python3", "ca-certificates"),
        "manifest": tmp_path / "docker" / "base" / "packages.lock",
        "epoch": 1700000000,
    }
    fields.update(changes)
    return BaseRecipe(**fields)  # type: ignore[arg-type]


def test_parse_dpkg_status_keeps_installed_packages_only() -> None:
    assert base.parse_dpkg_status(STATUS) == {"adduser": "3.134", "libc6": "2.36-9+deb12u13"}


def test_manifest_round_trip(tmp_path: Path) -> None:
    packages = {"libc6": "2.36-9", "adduser": "3.134"}
    text = base.render_manifest("bookworm", packages)
    assert text.splitlines() == [
        base.MANIFEST_HEADER,
        "# suite: bookworm",
        "adduser=3.134",
        "libc6=2.36-9",
    ]
    path = tmp_path / "packages.lock"
    path.write_text(text)
    assert base.manifest_packages(path) == packages
    assert base.parse_manifest(text) == ("bookworm", packages)


def test_parse_manifest_rejects_malformed_line() -> None:
    with pytest.raises(BaseImageError, match="line 2"):
        base.parse_manifest("# suite: bookworm\nlibc6 2.36\n")


def test_diff_packages_lists_changes_compactly() -> None:
    old = {"libc6": "2.36-9+deb12u13", "oldpkg": "1", "same": "1"}
    new = {"libc6": "2.36-9+deb12u14", "newpkg": "2", "same": "1"}
    assert base.diff_packages(old, new) == [
        "libc6 2.36-9+deb12u13 -> 2.36-9+deb12u14",
        "+newpkg",
        "-oldpkg",
    ]
    assert base.diff_packages(old, old) == []


def test_settle_manifest_writes_a_missing_manifest(tmp_path: Path) -> None:
    r = recipe(tmp_path)
    base.settle_manifest(r, {"libc6": "1"}, update=False)
    assert base.parse_manifest(r.manifest.read_text()) == ("bookworm", {"libc6": "1"})


def test_settle_manifest_refuses_changes_without_update(tmp_path: Path) -> None:
    r = recipe(tmp_path)
    base.settle_manifest(r, {"libc6": "1", "oldpkg": "1"}, update=False)
    with pytest.raises(BaseImageError) as caught:
        base.settle_manifest(r, {"libc6": "2", "newpkg": "1"}, update=False)
    assert caught.value.message == (
        f"base image would differ from {r.manifest}: libc6 1 -> 2, +newpkg, -oldpkg"
    )
    assert "--update-base" in caught.value.hint
    assert base.manifest_packages(r.manifest) == {"libc6": "1", "oldpkg": "1"}


def test_settle_manifest_reports_a_suite_change(tmp_path: Path) -> None:
    r = recipe(tmp_path)
    base.settle_manifest(r, {"libc6": "1"}, update=False)
    with pytest.raises(BaseImageError, match="suite bookworm -> trixie"):
        base.settle_manifest(recipe(tmp_path, suite="trixie"), {"libc6": "1"}, update=False)


def test_settle_manifest_rewrites_on_update(tmp_path: Path) -> None:
    r = recipe(tmp_path)
    base.settle_manifest(r, {"libc6": "1"}, update=False)
    base.settle_manifest(r, {"libc6": "2"}, update=True)
    assert base.manifest_packages(r.manifest) == {"libc6": "2"}


def test_settle_manifest_keeps_an_equivalent_file_untouched(tmp_path: Path) -> None:
    r = recipe(tmp_path)
    r.manifest.parent.mkdir(parents=True)
    r.manifest.write_text("# hand-edited comment\n# suite: bookworm\nlibc6=1\n")
    before = r.manifest.read_bytes()
    base.settle_manifest(r, {"libc6": "1"}, update=False)
    assert r.manifest.read_bytes() == before


def test_many_changes_are_summarised(tmp_path: Path) -> None:
    r = recipe(tmp_path)
    base.settle_manifest(r, {}, update=False)
    new = {f"pkg{i:02}": "1" for i in range(20)}
    with pytest.raises(BaseImageError) as caught:
        base.settle_manifest(r, new, update=False)
    assert caught.value.message.endswith("+pkg10, +pkg11, and 8 more")


def test_base_tag_follows_recipe_and_manifest(tmp_path: Path) -> None:
    r = recipe(tmp_path)
    base.settle_manifest(r, {"libc6": "1"}, update=False)
    tag = base.base_tag(r)
    assert tag.startswith("lockstep-base:") and len(tag.split(":")[1]) == 12
    # Package order does not matter; the package set, epoch and manifest content do.
    assert base.base_tag(recipe(tmp_path, packages=("ca-certificates", "python3"))) == tag
    assert base.base_tag(recipe(tmp_path, packages=("python3",))) != tag
    assert base.base_tag(recipe(tmp_path, epoch=1)) != tag
    base.settle_manifest(r, {"libc6": "2"}, update=True)
    assert base.base_tag(r) != tag


def config(**changes: object) -> bytes:
    fields: dict[str, object] = {
        "arch": "amd64",
        "epoch": 1700000000,
        "diff_id": "sha256:" + "a" * 64,
        "created_by": "mmdebstrap bookworm",
    }
    fields.update(changes)
    return base.image_config(**fields)  # type: ignore[arg-type]


def test_image_config_is_deterministic_and_complete() -> None:
    data = config()
    assert data == config()
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
    parsed = json.loads(config(arch="armhf"))
    assert (parsed["architecture"], parsed["variant"]) == ("arm", "v7")
    with pytest.raises(BaseImageError, match="unsupported architecture"):
        config(arch="hppa")


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
    data = config(diff_id=base.sha256_file(layer))
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
