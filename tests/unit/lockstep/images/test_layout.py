"""Image layouts from the DVC remote are checked, blob by blob, before `docker load` sees them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from lockstep.errors import ImageNotFoundError
from lockstep.images import layout

LAYER = b"pretend this is a layer tar" * 100
CONFIG = json.dumps(
    {
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(LAYER).hexdigest()}"]},
    }
).encode()


def blob(root: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    path = root / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def make_layout(root: Path, config: bytes = CONFIG) -> Path:
    """An OCI layout of one image, written by hand as the spec describes it."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": layout.MANIFEST_TYPE,
        "config": {"mediaType": layout.CONFIG_TYPE, **blob(root, config)},
        "layers": [{"mediaType": layout.LAYER_TYPE, **blob(root, LAYER)}],
    }
    entry = {"mediaType": layout.MANIFEST_TYPE, **blob(root, json.dumps(manifest).encode())}
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return root


IMAGE_ID = f"sha256:{hashlib.sha256(CONFIG).hexdigest()}"


def test_the_image_it_claims_with_intact_blobs_is_accepted(tmp_path):
    checked = layout.check(make_layout(tmp_path), IMAGE_ID)
    assert checked.config.read_bytes() == CONFIG
    assert [path.read_bytes() for path in checked.layers] == [LAYER]


def test_a_layer_whose_bytes_changed_is_refused(tmp_path):
    root = make_layout(tmp_path)
    layer = root / "blobs/sha256" / hashlib.sha256(LAYER).hexdigest()
    data = bytearray(layer.read_bytes())
    data[10] ^= 1
    layer.write_bytes(bytes(data))

    with pytest.raises(ImageNotFoundError, match="does not match its digest") as caught:
        layout.check(root, IMAGE_ID)
    assert "publish the image again" in caught.value.hint


def test_a_layout_of_another_image_is_refused(tmp_path):
    with pytest.raises(ImageNotFoundError, match="it holds image sha256:"):
        layout.check(make_layout(tmp_path), "sha256:" + "0" * 64)


def test_a_missing_blob_is_refused(tmp_path):
    root = make_layout(tmp_path)
    (root / "blobs/sha256" / hashlib.sha256(LAYER).hexdigest()).unlink()
    with pytest.raises(ImageNotFoundError, match="is missing"):
        layout.check(root, IMAGE_ID)


@pytest.mark.parametrize(
    "index",
    [
        "not json",
        '{"manifests": []}',
        '{"manifests": [{"digest": "sha256:../../etc"}, {"digest": "x"}]}',
        '{"manifests": [{"digest": "md5:abc"}]}',
    ],
)
def test_something_that_is_not_a_layout_of_one_image_is_refused(tmp_path, index):
    root = make_layout(tmp_path)
    (root / "index.json").write_text(index)
    with pytest.raises(ImageNotFoundError, match="is not an image layout"):
        layout.check(root, IMAGE_ID)
