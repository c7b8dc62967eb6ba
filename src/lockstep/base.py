"""Build the lockstep base image from Debian packages, deterministically and without a registry.

No container registry is reachable, so nothing can be pulled: the base image is bootstrapped
locally with mmdebstrap. `docker import` would stamp the current time and give a new image id on
every build, so the image archive (the `docker save` format) is assembled here instead, with a
fixed `created` time and the layer digest; `docker load` then yields the same image id wherever
the same packages are installed.

The installed package versions are recorded in a committed manifest. A rebuild that would install
different versions (Debian published updates) fails until the change is accepted with
`invoke build --update-base`, so the base image never drifts silently.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lockstep import shell
from lockstep.errors import BaseImageError, CommandError, EngineError

IMAGE_NAME = "lockstep-base"
MANIFEST_HEADER = (
    "# Debian packages in the lockstep base image; regenerate with: invoke build --update-base"
)
UPDATE_HINT = "review the changes, then run `invoke build --update-base` to accept them"
# Bump whenever the way the image is assembled changes (config, hooks, archive layout), so an
# image built the old way is never mistaken for the new one: the number is part of the tag.
FORMAT_VERSION = 1
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
# mmdebstrap copies the host's /etc/hostname and /etc/resolv.conf into the tree, which would make
# the image differ between machines. Docker mounts its own over both at run and build time.
HOST_FILES_HOOK = 'rm -f "$1/etc/hostname" "$1/etc/resolv.conf"'
# How many package changes an error message lists before summarising the rest.
MAX_LISTED_CHANGES = 12
_STATUS_PATH = "var/lib/dpkg/status"


@dataclass(frozen=True)
class BaseRecipe:
    """What goes into the base image.

    Attributes:
        suite: Debian suite, e.g. "bookworm".
        packages: packages installed on top of minbase, e.g. ("python3", "ca-certificates").
        manifest: committed manifest of installed versions, e.g. docker/base/packages.lock.
        epoch: SOURCE_DATE_EPOCH for the bootstrap and the image's `created` time.
    """

    suite: str
    packages: tuple[str, ...]
    manifest: Path
    epoch: int


def ensure_base(recipe: BaseRecipe, *, docker: str = "docker", update: bool = False) -> str:
    """Return the reference of the base image, building it only when missing.

    Args:
        recipe: what the image holds.
        docker: the docker CLI to use.
        update: accept package versions that differ from the manifest and rewrite it. This
            always rebuilds, since the point is to pick up what Debian has published since.

    Returns:
        The image reference, `lockstep-base:<12 hex>`.

    Raises:
        BaseImageError: the build failed, or it would install versions the manifest does not list.
        EngineError: the Docker engine cannot be reached.
    """
    if recipe.manifest.exists() and not update:
        tag = base_tag(recipe)
        if image_id(docker, tag) is not None:
            return tag
    print("building base image from Debian packages (about 30 s)", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="lockstep-base-", dir=_scratch_dir()) as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        bootstrap(recipe, rootfs)
        settle_manifest(recipe, installed_packages(rootfs), update=update)
        # The tag covers the manifest, so it can only be computed once the manifest is final.
        tag = base_tag(recipe)
        config = image_config(
            arch=shell.output(["dpkg", "--print-architecture"]),
            epoch=recipe.epoch,
            diff_id=sha256_file(rootfs),
            created_by=_created_by(recipe),
        )
        archive = Path(tmp) / "image.tar"
        write_image_archive(archive, layer=rootfs, config=config, tag=tag, epoch=recipe.epoch)
        load_image(docker, archive, tag, expected_id=_digest(config))
    return tag


def base_tag(recipe: BaseRecipe) -> str:
    """The image reference for a recipe whose manifest file exists."""
    key = [
        FORMAT_VERSION,
        recipe.suite,
        sorted(recipe.packages),
        recipe.epoch,
        recipe.manifest.read_text(encoding="utf-8"),
    ]
    digest = hashlib.sha256(_canonical_json(key)).hexdigest()
    return f"{IMAGE_NAME}:{digest[:12]}"


def image_id(docker: str, ref: str) -> str | None:
    """The id of a local image, or None when the engine has no such image.

    Raises:
        EngineError: the docker CLI is missing or the engine does not answer.
    """
    try:
        proc = shell.run(
            [docker, "image", "inspect", "--format", "{{.Id}}", ref],
            capture=True,
            check=False,
            quiet=True,
        )
    except CommandError as exc:
        raise EngineError(exc.message, "install Docker or choose another docker CLI") from exc
    if proc.returncode == 0:
        return proc.stdout.strip()
    if "no such image" in proc.stderr.lower():
        return None
    raise EngineError(
        f"cannot query the Docker engine: {_last_line(proc.stderr)}",
        "start the engine (dockerd) and check that you may use its socket",
    )


def bootstrap(recipe: BaseRecipe, rootfs: Path) -> None:
    """Write the minbase root filesystem with the recipe's packages to the tarball `rootfs`.

    Raises:
        BaseImageError: mmdebstrap is missing or failed.
    """
    cmd = [
        "mmdebstrap",
        "--variant=minbase",
        "--include=" + ",".join(sorted(set(recipe.packages))),
        "--customize-hook=" + HOST_FILES_HOOK,
    ]
    if os.geteuid() != 0:
        # Without root, mmdebstrap needs a user namespace (the user's /etc/subuid entry).
        cmd.append("--mode=unshare")
    # No mirror argument: mmdebstrap then uses apt's configured defaults for the suite.
    cmd += [recipe.suite, str(rootfs)]
    try:
        shell.run(cmd, env={"SOURCE_DATE_EPOCH": str(recipe.epoch)})
    except CommandError as exc:
        hint = (
            "install it: apt-get install mmdebstrap"
            if "not found" in exc.message
            else f"check that apt reaches the Debian packages and that {recipe.suite} has them all"
        )
        raise BaseImageError(exc.message, hint, log=exc.log) from exc


def installed_packages(rootfs: Path) -> dict[str, str]:
    """Installed package versions, read from dpkg's status file inside a rootfs tarball."""
    with tarfile.open(rootfs, "r:") as tar:
        for member in tar:
            if member.name.removeprefix("./") == _STATUS_PATH and member.isfile():
                status = tar.extractfile(member)
                assert status is not None  # a regular file always has content
                return parse_dpkg_status(status.read().decode("utf-8"))
    raise BaseImageError(f"{rootfs} has no {_STATUS_PATH}", "the bootstrap did not install dpkg")


def parse_dpkg_status(text: str) -> dict[str, str]:
    """Map package name to version for every fully installed package in a dpkg status file."""
    packages: dict[str, str] = {}
    for paragraph in text.split("\n\n"):
        fields = _fields(paragraph)
        if fields.get("Status") == "install ok installed" and "Package" in fields:
            packages[fields["Package"]] = fields["Version"]
    return packages


def _fields(paragraph: str) -> dict[str, str]:
    """The single-line fields of a deb822 paragraph (continuation lines are skipped)."""
    fields: dict[str, str] = {}
    for line in paragraph.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def render_manifest(suite: str, packages: Mapping[str, str]) -> str:
    """The manifest file text for a suite and its installed packages."""
    lines = [MANIFEST_HEADER, f"# suite: {suite}"]
    lines += [f"{name}={packages[name]}" for name in sorted(packages)]
    return "\n".join(lines) + "\n"


def parse_manifest(text: str) -> tuple[str | None, dict[str, str]]:
    """The suite (None when absent) and package versions a manifest records.

    Raises:
        BaseImageError: a line is neither a comment nor `name=version`.
    """
    suite: str | None = None
    packages: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("# suite:"):
            suite = line.removeprefix("# suite:").strip()
        elif not line or line.startswith("#"):
            continue
        else:
            name, sep, version = line.partition("=")
            if not (sep and name and version):
                raise BaseImageError(
                    f"base manifest line {number} is not `name=version`: {raw!r}",
                    "fix the line or regenerate the manifest with `invoke build --update-base`",
                )
            packages[name.strip()] = version.strip()
    return suite, packages


def manifest_packages(path: Path) -> dict[str, str]:
    """Package versions recorded in a manifest file."""
    return parse_manifest(path.read_text(encoding="utf-8"))[1]


def diff_packages(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Compact changes from `old` to `new`, by package name.

    Returns:
        Entries like `libc6 2.36-9 -> 2.36-10`, `+newpkg` and `-oldpkg`; empty when equal.
    """
    changes = []
    for name in sorted(old.keys() | new.keys()):
        if name not in old:
            changes.append(f"+{name}")
        elif name not in new:
            changes.append(f"-{name}")
        elif old[name] != new[name]:
            changes.append(f"{name} {old[name]} -> {new[name]}")
    return changes


def settle_manifest(recipe: BaseRecipe, packages: Mapping[str, str], *, update: bool) -> None:
    """Write the manifest when missing or when updating; otherwise require it to match.

    Raises:
        BaseImageError: the manifest differs from `packages` and `update` is False.
    """
    path = recipe.manifest
    if path.exists():
        suite, recorded = parse_manifest(path.read_text(encoding="utf-8"))
        changes = diff_packages(recorded, packages)
        if suite != recipe.suite:
            changes.insert(0, f"suite {suite} -> {recipe.suite}")
        if not changes:
            # Same content: keep the file byte for byte, since the tag hashes it.
            return
        if not update:
            raise BaseImageError(
                f"base image would differ from {path}: {_summarise(changes)}", UPDATE_HINT
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_manifest(recipe.suite, packages), encoding="utf-8")


def _summarise(changes: list[str]) -> str:
    """Join changes, cutting a long list short."""
    shown = changes[:MAX_LISTED_CHANGES]
    rest = len(changes) - len(shown)
    return ", ".join(shown) + (f", and {rest} more" if rest else "")


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
    return _canonical_json(config)


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


def _created_by(recipe: BaseRecipe) -> str:
    """The history line: how the layer was made."""
    include = ",".join(sorted(set(recipe.packages)))
    return f"mmdebstrap --variant=minbase --include={include} {recipe.suite}"


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
    config_name = _digest(config).removeprefix("sha256:") + ".json"
    layer_name = f"{layer_hex}/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]
    members = {
        config_name: _bytes_member(config),
        layer_name: lambda: layer.open("rb"),
        "manifest.json": _bytes_member(_canonical_json(manifest)),
    }
    with tarfile.open(archive, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(members):
            with members[name]() as data:
                size = data.seek(0, io.SEEK_END)
                data.seek(0)
                tar.addfile(_tar_info(name, size, epoch), data)


def _bytes_member(data: bytes) -> Callable[[], io.BytesIO]:
    """A factory opening `data` as a file, like Path.open for on-disk members."""
    return lambda: io.BytesIO(data)


def _tar_info(name: str, size: int, epoch: int) -> tarfile.TarInfo:
    """Archive member metadata that depends on nothing but the name, size and epoch."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = epoch
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def load_image(docker: str, archive: Path, tag: str, *, expected_id: str) -> None:
    """`docker load` an archive and check that the engine computed the expected image id.

    Raises:
        EngineError: docker load failed.
        BaseImageError: the loaded image has another id (the archive is not what it claims).
    """
    try:
        shell.run([docker, "load", "--input", str(archive)])
    except CommandError as exc:
        raise EngineError(exc.message, "check that the Docker engine runs", log=exc.log) from exc
    loaded = image_id(docker, tag)
    if loaded != expected_id:
        raise BaseImageError(
            f"docker loaded {tag} as {loaded}, expected {expected_id}",
            "report this: the image archive is malformed",
        )


def sha256_file(path: Path) -> str:
    """`sha256:<hex>` of a file, read in chunks (layers are hundreds of megabytes)."""
    with path.open("rb") as stream:
        return "sha256:" + hashlib.file_digest(stream, "sha256").hexdigest()


def _digest(data: bytes) -> str:
    """`sha256:<hex>` of bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical_json(value: object) -> bytes:
    """JSON with sorted keys and no whitespace, so equal values give equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _scratch_dir() -> str | None:
    """A temp directory on disk rather than in RAM: the build needs about 500 MB."""
    return "/var/tmp" if os.path.isdir("/var/tmp") and os.access("/var/tmp", os.W_OK) else None


def _last_line(text: str) -> str:
    """The last non-empty line of a command's output."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
