"""Image archives: a deterministic config and archive, in the shape `docker load` takes."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from lockstep.errors import BaseImageError
from lockstep.images import oci


def image_config(**changes: object) -> bytes:
    fields: dict[str, object] = {
        "arch": "amd64",
        "epoch": 1700000000,
        "diff_id": "sha256:" + "a" * 64,
        "created_by": "mmdebstrap bookworm",
    }
    fields.update(changes)
    return oci.image_config(**fields)  # type: ignore[arg-type]


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
    assert parsed["config"]["Env"] == [f"PATH={oci.PATH}"]
    assert parsed["config"]["Cmd"] == ["/bin/bash"]


def test_image_config_maps_architectures() -> None:
    parsed = json.loads(image_config(arch="armhf"))
    assert (parsed["architecture"], parsed["variant"]) == ("arm", "v7")
    with pytest.raises(BaseImageError, match="unsupported architecture"):
        image_config(arch="hppa")


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "layer.tar"
    path.write_bytes(b"x" * 300_000)
    assert oci.sha256_file(path) == "sha256:" + hashlib.sha256(b"x" * 300_000).hexdigest()


def write_archive(tmp_path: Path, name: str) -> bytes:
    layer = tmp_path / "layer.tar"
    if not layer.exists():
        with tarfile.open(layer, "w") as tar:
            info = tarfile.TarInfo("./etc/hello")
            info.size = 5
            tar.addfile(info, io.BytesIO(b"hello"))
    data = image_config(diff_id=oci.sha256_file(layer))
    archive = tmp_path / name
    oci.write_image_archive(archive, layer=layer, config=data, tag="lockstep-base:x", epoch=7)
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
