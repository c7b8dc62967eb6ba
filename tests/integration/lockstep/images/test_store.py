"""A full disk while an image layout is loaded into an engine, and while one is written.

An engine of its own whose data root is a small tmpfs (the machine's engine is never filled),
and an image made by hand (one layer of random bytes, no build): cheap, and real.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from lockstep.engines import Engine
from lockstep.errors import DiskFullError
from lockstep.images import layout, oci, store

from tests.support import commands, machines

LAYER_BYTES = 12_000_000


def handmade_layout(dest: Path) -> str:
    """An OCI layout of a one-layer image (a file of random bytes); return the image id."""
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    data = os.urandom(LAYER_BYTES)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(oci.tar_info("blob.bin", len(data), 0), io.BytesIO(data))
    layer = buffer.getvalue()

    def put(content: bytes) -> dict:
        digest = oci.digest(content)
        (blobs / digest.removeprefix("sha256:")).write_bytes(content)
        return {"digest": digest, "size": len(content)}

    diff_id = f"sha256:{hashlib.sha256(layer).hexdigest()}"
    config = oci.image_config(arch="amd64", epoch=0, diff_id=diff_id, created_by="test")
    manifest = {
        "schemaVersion": 2,
        "mediaType": layout.MANIFEST_TYPE,
        "config": {"mediaType": layout.CONFIG_TYPE, **put(config)},
        "layers": [{"mediaType": layout.LAYER_TYPE, **put(layer)}],
    }
    entry = {"mediaType": layout.MANIFEST_TYPE, **put(oci.canonical_json(manifest))}
    index = {"schemaVersion": 2, "manifests": [entry]}
    (dest / "index.json").write_bytes(oci.canonical_json(index))
    (dest / layout.LAYOUT_FILE).write_bytes(oci.canonical_json(layout.LAYOUT_VERSION))
    return oci.digest(config)


@pytest.fixture
def small_engine(monkeypatch) -> machines.SecondEngine:
    """An engine whose data root is on a 10 MB disk, which the kit's docker CLI reaches."""
    machines.require_root("mounts a small disk as an engine's data root")
    with machines.SecondEngine(disk=10) as engine:
        monkeypatch.setenv("DOCKER_HOST", engine.host)
        yield engine


def used(path: Path) -> int:
    usage = os.statvfs(path)
    return (usage.f_blocks - usage.f_bfree) * usage.f_frsize


def test_a_full_data_root_and_a_full_project_disk_each_give_one_line_and_keep_nothing(
    small_engine, tmp_path
) -> None:
    engine, disk = Engine("/usr/bin/docker"), small_engine.disk_path
    image_id = handmade_layout(tmp_path / "layout")
    before = used(disk)

    with pytest.raises(DiskFullError) as caught:
        layout.load(engine, tmp_path / "layout", image_id)

    assert str(caught.value) == (
        f"No space left on device while loading {image_id[:19]} into the Docker engine's data "
        f"root {disk / 'docker'}; free some disk space (12 MB needed) and run again (nothing "
        "was replaced)"
    )
    assert small_engine.image_id(image_id) is None
    assert used(disk) < before + 1_000_000  # the engine kept none of it
    small_engine.resize_disk(48)
    layout.load(engine, tmp_path / "layout", image_id)
    assert small_engine.image_id(image_id) == image_id

    # The project is on the same disk: about 12 MB of 48 are the image's now.
    project = disk / "project"
    project.mkdir()
    commands.run(["git", "init", "--quiet"], project)
    commands.run([sys.executable, "-m", "dvc", "init", "--quiet"], project)
    small_engine.resize_disk(26)
    with pytest.raises(DiskFullError) as caught:
        store.save(project, engine, image_id)

    target = project / store.path_for(image_id)
    assert str(caught.value).startswith(
        f"No space left on device while writing the image layout to {target}; free some disk "
        "space ("
    )
    assert sorted(path.name for path in (project / "images").iterdir()) == []
    small_engine.resize_disk(64)
    assert store.save(project, engine, image_id) == project / store.dvc_file_for(image_id)
    subprocess.run([sys.executable, "-m", "dvc", "checkout", "--quiet"], cwd=project, check=True)
    assert layout.check(target, image_id).layers
