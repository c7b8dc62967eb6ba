"""Image archives from the DVC remote are checked before `docker load` sees them."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from lockstep.errors import ImageNotFoundError
from lockstep.images import oci, store

CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'


def archive(tmp_path: Path, manifest: object, config: bytes = CONFIG) -> Path:
    """An archive in the `docker save` shape with the given manifest.json."""
    path = tmp_path / "image.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in [
            ("config.json", config),
            ("manifest.json", json.dumps(manifest).encode()),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def entry(**changes) -> dict:
    return {"Config": "config.json", "RepoTags": None, "Layers": [], **changes}


def test_the_image_it_claims_untagged_is_accepted(tmp_path):
    store.check_archive(archive(tmp_path, [entry()]), oci.digest(CONFIG))


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        ([entry(), entry()], "does not hold exactly one image"),
        ([entry(RepoTags=["credit-model:latest"])], "would tag images (credit-model:latest)"),
        ([entry(Config="missing.json")], "is not an image archive"),
        ({"not": "a list"}, "does not hold exactly one image"),
    ],
)
def test_an_archive_that_is_not_what_it_claims_is_refused(tmp_path, manifest, problem):
    with pytest.raises(ImageNotFoundError, match="was refused") as caught:
        store.check_archive(archive(tmp_path, manifest), oci.digest(CONFIG))
    assert problem in caught.value.message


def test_an_archive_of_another_image_is_refused(tmp_path):
    with pytest.raises(ImageNotFoundError, match="it holds image sha256:"):
        store.check_archive(archive(tmp_path, [entry()]), "sha256:" + "0" * 64)
