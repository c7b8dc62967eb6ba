"""Images as OCI image layouts: a folder of content-addressed blobs, one file per layer.

A layout (the OCI image specification's `image-layout`: `oci-layout`, `index.json` and
`blobs/sha256/<digest>`) keeps every layer as its own file named by its digest, so DVC, which
stores each file once by content, stores a layer once however many image versions share it:
ten versions that differ in one distribution cost one copy of the others. The layers stay
uncompressed tars (their digest is then the layer's diff_id, which the image id names), so the
same layer is the same file.

skopeo would write the same folder, but it is one more system package for every teammate; the
docker CLI already streams the image (`docker save`) and takes it back (`docker load`), and what
lies between is a tar file and four small JSON documents.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lockstep import files
from lockstep.engines import Engine
from lockstep.errors import CommandError, ImageNotFoundError
from lockstep.images import oci

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
LAYOUT_FILE = "oci-layout"
LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}
# Member times in the archive handed to `docker load`; the image id does not depend on them.
EPOCH = 0


@dataclass(frozen=True)
class Layout:
    """A checked layout: the image's config blob and its layer blobs, in order."""

    config: Path
    layers: list[Path]


def write(engine: Engine, image_id: str, dest: Path) -> None:
    """Write an image from the engine as an OCI layout in `dest` (a new folder).

    `docker save` is read as a stream: layers go straight to their blob files, hashed on the
    way, with no temporary copy of the whole image.
    """
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    saved = engine.read_from("save", image_id, consume=lambda stream: _unpack_save(stream, blobs))
    entries = json.loads(saved["manifest.json"])
    if len(entries) != 1:
        raise ImageNotFoundError(f"docker save of {image_id[:19]} held {len(entries)} images")
    config = saved[entries[0]["Config"]]
    if oci.digest(config) != image_id:
        raise ImageNotFoundError(f"docker save of {image_id[:19]} held {oci.digest(config)}")
    config_digest = _put(blobs, config)
    layers = [saved["layers"][name] for name in entries[0]["Layers"]]
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": d, "size": s} for d, s in layers],
    }
    manifest_bytes = oci.canonical_json(manifest)
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [
            {
                "mediaType": MANIFEST_TYPE,
                "digest": _put(blobs, manifest_bytes),
                "size": len(manifest_bytes),
            }
        ],
    }
    (dest / "index.json").write_bytes(oci.canonical_json(index))
    (dest / LAYOUT_FILE).write_bytes(oci.canonical_json(LAYOUT_VERSION))


def _unpack_save(stream: IO[bytes], blobs: Path) -> dict:
    """Read a `docker save` stream: layers into blobs, small JSON files kept by name."""
    found: dict = {"layers": {}}
    links = {}
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            if member.name.endswith("layer.tar") and member.issym():
                links[member.name] = os.path.normpath(
                    os.path.join(os.path.dirname(member.name), member.linkname)
                )
            elif member.name.endswith("layer.tar") and member.isfile():
                found["layers"][member.name] = _put_stream(blobs, tar.extractfile(member))
            elif member.isfile() and member.name.endswith(".json"):
                found[member.name] = tar.extractfile(member).read()
    for name, target in links.items():
        found["layers"][name] = found["layers"][target]
    return found


def _put(blobs: Path, data: bytes) -> str:
    """Store bytes as a blob; return their digest."""
    digest = oci.digest(data)
    (blobs / digest.removeprefix("sha256:")).write_bytes(data)
    return digest


def _put_stream(blobs: Path, stream: IO[bytes]) -> tuple[str, int]:
    """Store a stream as a blob, hashing it on the way; return its digest and size."""
    hasher = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=blobs, delete=False) as out:
        while chunk := stream.read(1 << 20):
            hasher.update(chunk)
            out.write(chunk)
            size += len(chunk)
    Path(out.name).rename(blobs / hasher.hexdigest())
    return f"sha256:{hasher.hexdigest()}", size


def check(layout: Path, image_id: str) -> Layout:
    """Check a layout before any of it reaches the engine.

    It must hold exactly the image it claims, and every blob's bytes must match its digest.

    Raises:
        ImageNotFoundError: it does not, with the first problem found.
    """
    try:
        index = json.loads((layout / "index.json").read_bytes())
        (entry,) = index["manifests"]
        manifest = json.loads(_blob(layout, entry["digest"]).read_bytes())
        config = _blob(layout, manifest["config"]["digest"])
        layers = [_blob(layout, layer["digest"]) for layer in manifest["layers"]]
    except (OSError, KeyError, TypeError, ValueError) as exc:
        _refuse(image_id, f"it is not an image layout ({type(exc).__name__}: {exc})")
    if manifest["config"]["digest"] != image_id:
        _refuse(image_id, f"it holds image {manifest['config']['digest'][:19]}")
    for blob in dict.fromkeys([layout / "blobs/sha256" / entry["digest"][7:], config, *layers]):
        actual = oci.sha256_file(blob)
        if actual != f"sha256:{blob.name}":
            _refuse(image_id, f"blob {blob.name[:12]} does not match its digest ({actual[:19]})")
    return Layout(config, layers)


def _blob(layout: Path, digest: str) -> Path:
    algorithm, _, hex_digest = digest.partition(":")
    if algorithm != "sha256" or len(hex_digest) != 64 or not hex_digest.isalnum():
        raise ValueError(f"unsupported digest {digest!r}")
    path = layout / "blobs" / "sha256" / hex_digest
    if not path.is_file():
        raise FileNotFoundError(f"blob {hex_digest[:12]} is missing")
    return path


def _refuse(image_id: str, problem: str):
    raise ImageNotFoundError(
        f"the stored layout of {image_id[:19]} was refused: {problem}",
        "publish the image again (`invoke publish`) where it exists",
    )


def load(engine: Engine, layout: Path, image_id: str) -> None:
    """Check a layout (`check`), then stream it to `docker load`, untagged; check the id."""
    checked = check(layout, image_id)
    names = {path: f"blobs/sha256/{path.name}" for path in [checked.config, *checked.layers]}
    # The `docker save` shape, which every Docker version loads; RepoTags null moves no tag.
    manifest = [
        {
            "Config": names[checked.config],
            "RepoTags": None,
            "Layers": [names[p] for p in checked.layers],
        }
    ]

    def produce(stdin: IO[bytes]) -> None:
        with tarfile.open(fileobj=stdin, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
            for path, name in names.items():
                with path.open("rb") as data:
                    tar.addfile(oci.tar_info(name, path.stat().st_size, EPOCH), data)
            data = oci.canonical_json(manifest)
            tar.addfile(oci.tar_info("manifest.json", len(data), EPOCH), io.BytesIO(data))

    size = sum(path.stat().st_size for path in names)
    loading = (f"loading {image_id[:19]} ({len(checked.layers)} layers)", size)
    try:
        engine.write_to("load", "--quiet", produce=produce, progress=loading)
    except CommandError as exc:
        # The engine keeps no half-loaded image: a layer counts once whole and checked.
        if files.is_no_space(exc):
            data_root = engine.output("info", "--format", "{{.DockerRootDir}}")
            doing = f"loading {image_id[:19]} into the Docker engine's data root"
            raise files.no_space(doing, data_root, size) from exc
        raise
    if engine.image_id(image_id) != image_id:
        raise ImageNotFoundError(f"docker load did not give {image_id[:19]}", "report this")
