"""Image archives in the `docker load` format, written with fixed metadata.

`docker import` stamps the current time, so its image id changes on every import. Writing the
archive here (a fixed `created` time, the layer's digest, members with fixed metadata) and
loading it gives an image id that depends on the layer's bytes alone.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from lockstep.engines import Engine
from lockstep.errors import BaseImageError, CommandError, EngineError

# Debian's default PATH for root, as in the official Debian images.
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# dpkg architecture -> (GOARCH-style architecture, variant) as image configs spell them.
DOCKER_ARCH: dict[str, tuple[str, str | None]] = {
    "amd64": ("amd64", None),
    "arm64": ("arm64", "v8"),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v5"),
    "i386": ("386", None),
    "ppc64el": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
    "mips64el": ("mips64le", None),
}


def image_config(*, arch: str, epoch: int, diff_id: str, created_by: str) -> bytes:
    """The image config JSON, byte-identical for identical inputs (its digest is the image id).

    Args:
        arch: dpkg architecture of the root filesystem, e.g. "amd64".
        epoch: creation time, seconds since 1970.
        diff_id: "sha256:<hex>" of the uncompressed layer tar.
        created_by: the history entry's description.
    """
    docker_arch, variant = _docker_arch(arch)
    created = rfc3339(epoch)
    config: dict[str, object] = {
        "architecture": docker_arch,
        "os": "linux",
        "created": created,
        "config": {"Env": [f"PATH={PATH}"], "Cmd": ["/bin/bash"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": created_by}],
    }
    if variant:
        config["variant"] = variant
    return canonical_json(config)


def _docker_arch(arch: str) -> tuple[str, str | None]:
    """Docker's name (and variant) for a dpkg architecture."""
    try:
        return DOCKER_ARCH[arch]
    except KeyError:
        raise BaseImageError(
            f"unsupported architecture {arch!r}", f"supported: {', '.join(DOCKER_ARCH)}"
        ) from None


def rfc3339(epoch: int) -> str:
    """An epoch as an RFC 3339 UTC timestamp, e.g. 2023-11-14T22:13:20Z."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_image_archive(archive: Path, *, layer: Path, config: bytes, tag: str, epoch: int) -> None:
    """Write a `docker load` archive of a single-layer image, with fixed member metadata.

    Args:
        archive: the tar file to write.
        layer: the uncompressed layer tar; its sha256 must match the config's diff_id.
        config: the image config JSON.
        tag: the reference `docker load` gives the image.
        epoch: modification time of every member.
    """
    layer_hex = json.loads(config)["rootfs"]["diff_ids"][0].removeprefix("sha256:")
    config_name = digest(config).removeprefix("sha256:") + ".json"
    layer_name = f"{layer_hex}/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]
    members = {
        config_name: _bytes_member(config),
        layer_name: lambda: layer.open("rb"),
        "manifest.json": _bytes_member(canonical_json(manifest)),
    }
    with tarfile.open(archive, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(members):
            with members[name]() as data:
                size = data.seek(0, io.SEEK_END)
                data.seek(0)
                tar.addfile(tar_info(name, size, epoch), data)


def _bytes_member(data: bytes) -> Callable[[], io.BytesIO]:
    """A factory opening `data` as a file, like Path.open for on-disk members."""
    return lambda: io.BytesIO(data)


def tar_info(name: str, size: int, epoch: int) -> tarfile.TarInfo:
    """Archive member metadata that depends on nothing but the name, size and epoch."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = epoch
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def load_image(engine: Engine, image: Path, tag: str, *, expected_id: str) -> None:
    """`docker load` an archive and check that the engine computed the expected image id.

    Raises:
        EngineError: docker load failed.
        BaseImageError: the loaded image has another id (the archive is not what it claims).
    """
    try:
        engine.run("load", "--quiet", "--input", str(image), capture=True)
    except CommandError as exc:
        raise EngineError(exc.message, "check that the Docker engine runs", log=exc.log) from exc
    loaded = engine.image_id(tag)
    if loaded != expected_id:
        raise BaseImageError(
            f"docker loaded {tag} as {loaded}, expected {expected_id}",
            "report this: the image archive is malformed",
        )


def sha256_file(path: Path) -> str:
    """`sha256:<hex>` of a file, read in chunks (layers are hundreds of megabytes)."""
    with path.open("rb") as stream:
        return "sha256:" + hashlib.file_digest(stream, "sha256").hexdigest()


def digest(data: bytes) -> str:
    """`sha256:<hex>` of bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: object) -> bytes:
    """JSON with sorted keys and no whitespace, so equal values give equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")
