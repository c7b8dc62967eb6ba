"""The offline Debian base image: found, fetched, or rebuilt byte for byte from its `.deb` files.

No container registry need be reachable: the base is bootstrapped with mmdebstrap from `.deb`
files served by a local apt repository (`lockstep.debs`). `docker import` would stamp the current
time, so the image archive (the `docker save` format) is assembled here with a fixed `created`
time; `docker load` then gives the same image id to anyone with the same `.deb` files, as root
or not, on any machine.

The committed manifest (`lockstep.manifest`) records the packages and the image id. `obtain`
walks a ladder, most exact first, and says which rung gave the image:

1. the engine already holds the recorded image;
2. the configured registry has it (checked by id);
3. the DVC remote holds its image archive (`invoke archive`);
4. the recorded `.deb` files, from the DVC cache or remote, rebuild it (no mirror needed);
5. a Debian snapshot mirror, when `snapshot` is set, serves the recorded versions;
6. the live mirror: versions may have moved on. The kit proceeds, lists each change, and writes
   the new manifest (git shows it); with `strict` it refuses instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import shlex
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lockstep import archive, debs, manifest, shell
from lockstep.config import Settings
from lockstep.engine import Engine
from lockstep.errors import BaseImageError, CommandError, EngineError, LockstepError
from lockstep.manifest import Manifest
from lockstep.shell import say

IMAGE_NAME = "lockstep-base"
# Bump whenever the way the image is assembled changes (hooks, archive layout), so an image built
# the old way is never mistaken for the new one: the number is part of the tag.
FORMAT_VERSION = 2
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
# python3's postinst byte-compiles a few modules: with hash-based pycs when SOURCE_DATE_EPOCH
# reaches it (as root), with timestamp-based ones when it does not (mmdebstrap's unshare mode).
# Recompiling those with checked hashes makes root's and an ordinary user's images identical.
PYC_HOOK = """
import os, py_compile
for folder, _, names in os.walk("/usr"):
    if os.path.basename(folder) != "__pycache__":
        continue
    for name in names:
        pyc = os.path.join(folder, name)
        with open(pyc, "rb") as handle:
            flags = int.from_bytes(handle.read(8)[4:8], "little")
        source = os.path.join(os.path.dirname(folder), name.split(".")[0] + ".py")
        if flags == 0 and os.path.exists(source):
            py_compile.compile(source, cfile=pyc, dfile=source, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
"""
# The image holds no apt sources: where its packages came from is a fact of the build machine,
# and every package it needs is in the recipe. This note replaces the build's temporary source.
SOURCES_NOTE = (
    "# lockstep base image: its packages come from the .deb files recorded in\n"
    "# docker/base/packages.lock; add a package with [tool.lockstep.base] packages.\n"
)
_STATUS_PATH = "var/lib/dpkg/status"


@dataclass(frozen=True)
class BaseRecipe:
    """What goes into the base image, and where its packages may come from.

    Attributes:
        suite: Debian suite, e.g. "bookworm".
        packages: packages installed on top of minbase, e.g. ("python3", "ca-certificates").
        manifest: the committed manifest, e.g. <root>/docker/base/packages.lock.
        epoch: SOURCE_DATE_EPOCH for the bootstrap and the image's `created` time.
        mirrors: apt sources for the live mirror; empty means apt's configured defaults.
        snapshot: a Debian snapshot timestamp (e.g. "20261128T000000Z"), or "".
        snapshot_mirrors: apt sources with `{snapshot}` where the timestamp goes.
    """

    suite: str
    packages: tuple[str, ...]
    manifest: Path
    epoch: int
    mirrors: tuple[str, ...] = ()
    snapshot: str = ""
    snapshot_mirrors: tuple[str, ...] = ()


def recipe(settings: Settings) -> BaseRecipe:
    """The recipe `[tool.lockstep.base]` describes."""
    cfg = settings.base
    return BaseRecipe(
        suite=cfg.suite,
        packages=cfg.packages,
        manifest=settings.path(cfg.manifest),
        epoch=cfg.epoch,
        mirrors=cfg.mirrors,
        snapshot=cfg.snapshot,
        snapshot_mirrors=cfg.snapshot_mirrors,
    )


@dataclass(frozen=True)
class Base:
    """The base image in the engine, and how it got there.

    Attributes:
        ref: the reference builds use, `lockstep-base:<12 hex>`.
        id: its image id.
        source: the ladder's rung, e.g. "loaded from the DVC remote".
        changes: how its packages differ from the committed manifest (empty: as recorded).
        note: anything else that differs from the record, e.g. another image id.
    """

    ref: str
    id: str
    source: str
    changes: tuple[str, ...] = ()
    note: str = ""

    @property
    def exact(self) -> bool:
        """True when the image is the recorded one."""
        return not (self.changes or self.note)

    def describe(self) -> str:
        """One line for the user: the rung, and what differs from the record."""
        if self.exact:
            return f"base: {self.source} (exact)"
        details = [manifest.describe_drift(list(self.changes))] if self.changes else []
        if self.changes:
            details[0] += ": " + manifest.summarise(list(self.changes))
        if self.note:
            details.append(self.note)
        return f"base: {self.source}, " + "; ".join(details)


# A rung gives the base, or says in a phrase why it could not.
Rung = Callable[[], "Base | str"]


def obtain(
    root: Path,
    recipe: BaseRecipe,
    engine: Engine,
    *,
    registry_address: str = "",
    strict: bool = False,
    update: bool = False,
) -> Base:
    """Put the recorded base image in the engine, by the most exact means available.

    Args:
        root: the project root (the `.deb` folder and image archives live under it).
        recipe: what the image holds.
        engine: the Docker engine.
        registry_address: the project's registry (`host:port`), or "".
        strict: refuse any difference from the committed manifest instead of proceeding.
        update: skip to the live mirror and accept what it has (`invoke build --update-base`).

    Raises:
        BaseImageError: no rung gave an image, or `strict` and the image would differ.
        EngineError: the engine cannot be reached.
    """
    recorded = manifest.read(recipe.manifest)
    ladder: list[Rung] = []
    if recorded is not None and not update:
        tag = tag_for(recipe, recorded)
        if recorded.image:
            ladder += [
                lambda: _in_engine(engine, recorded, tag),
                lambda: _from_registry(engine, registry_address, recorded, tag),
                lambda: _from_image_archive(root, engine, recorded, tag),
            ]
        else:
            say(f"base: {recipe.manifest.name} records no image id yet")
        ladder += [
            lambda: _from_archived_debs(root, recipe, engine, recorded, strict),
            lambda: _from_snapshot(root, recipe, engine, recorded, strict),
        ]
    ladder.append(lambda: _from_live_mirror(root, recipe, engine, recorded, strict and not update))
    for rung in ladder:
        found = rung()
        if isinstance(found, Base):
            say(found.describe())
            return found
        say(f"base: {found}")
    raise AssertionError("the live mirror rung always gives an image or raises")


def tag_for(recipe: BaseRecipe, packages: Manifest) -> str:
    """The reference of the image a recipe builds from a set of packages.

    It covers everything the image's bytes depend on: the packages, the recipe's own packages
    (apt's auto-installed marks), the epoch, and the way the image is assembled.
    """
    key = [FORMAT_VERSION, packages.key(), sorted(set(recipe.packages)), recipe.epoch]
    digest = hashlib.sha256(_canonical_json(key)).hexdigest()
    return f"{IMAGE_NAME}:{digest[:12]}"


def _in_engine(engine: Engine, recorded: Manifest, tag: str) -> Base | str:
    found = engine.inspect(recorded.image)
    if found is None:
        return "not in the engine"
    if tag not in (found.get("RepoTags") or []):
        engine.run("tag", recorded.image, tag, capture=True, quiet=True)
    return Base(tag, recorded.image, "found in the engine")


def _from_registry(engine: Engine, address: str, recorded: Manifest, tag: str) -> Base | str:
    if not address:
        return "no registry configured"
    remote = f"{address.rstrip('/')}/{tag}"
    # By tag, then checked by id: the id is the digest of the config, which names every
    # layer's digest, so a matching id is the recorded image whatever the tag pointed at.
    proc = engine.run("pull", "--quiet", remote, capture=True, check=False)
    if proc.returncode:
        return f"not pulled from {address} ({_last_line(proc.stderr)})"
    if engine.image_id(remote) != recorded.image:
        return f"{remote} is not the recorded image; not used"
    engine.run("tag", recorded.image, tag, capture=True, quiet=True)
    return Base(tag, recorded.image, f"pulled from the registry {address}")


def _from_image_archive(root: Path, engine: Engine, recorded: Manifest, tag: str) -> Base | str:
    if not (root / archive.path_for(recorded.image)).with_suffix(".tar.dvc").exists():
        return f"no image archive ({archive.path_for(recorded.image)}.dvc is not in the project)"
    try:
        archive.load(root, engine, recorded.image, [None])
    except LockstepError as exc:
        return f"image archive not loaded ({exc.message})"
    engine.run("tag", recorded.image, tag, capture=True, quiet=True)
    return Base(tag, recorded.image, "loaded from the DVC remote")


def _from_archived_debs(
    root: Path, recipe: BaseRecipe, engine: Engine, recorded: Manifest, strict: bool
) -> Base | str:
    folder = root / debs.FOLDER
    if not _holds(folder, recorded):
        problem = debs.restore(root)
        if problem:
            return f"no archived .deb files ({problem})"
        if not _holds(folder, recorded):
            return f"{debs.FOLDER}.dvc does not match {recipe.manifest.name}"
    return build(recipe, engine, folder, recorded, "rebuilt from the archived .deb files", strict)


def _from_snapshot(
    root: Path, recipe: BaseRecipe, engine: Engine, recorded: Manifest, strict: bool
) -> Base | str:
    if not recipe.snapshot:
        return "no snapshot configured"
    mirrors = [entry.replace("{snapshot}", recipe.snapshot) for entry in recipe.snapshot_mirrors]
    tools = [f"{name}={version}" for name, version in sorted(recorded.tools.items())]
    try:
        folder = _fetch(root, recipe, recorded.pins(), tools or debs.TOOLS, mirrors)
    except BaseImageError as exc:
        return f"not rebuilt from the snapshot {recipe.snapshot} ({exc.message})"
    source = f"rebuilt from the snapshot {recipe.snapshot} ({', '.join(mirrors)})"
    found = build(recipe, engine, folder, recorded, source, strict)
    debs.store(root)
    return found


def _from_live_mirror(
    root: Path, recipe: BaseRecipe, engine: Engine, recorded: Manifest | None, strict: bool
) -> Base:
    where = ", ".join(recipe.mirrors) or "apt's configured mirror"
    folder = _fetch(root, recipe, sorted(set(recipe.packages)), debs.TOOLS, recipe.mirrors)
    source = f"rebuilt from the live mirror ({where})"
    found = build(recipe, engine, folder, recorded, source, strict)
    debs.store(root)
    return found


def ensure_tools(root: Path, recipe: BaseRecipe) -> None:
    """Put the dev image's tool `.deb` files in the project, as recorded when possible.

    They come with the base's `.deb` files (DVC cache or remote); when those are out of reach,
    the newest tools are downloaded and recorded: they are unpacked into the dev image only, so
    their version does not touch the environment fingerprint.
    """
    recorded = manifest.read(recipe.manifest)
    folder = root / debs.TOOLS_FOLDER
    if recorded and recorded.tools:
        if debs.versions(folder) == dict(recorded.tools):
            return
        if not debs.restore(root) and debs.versions(folder) == dict(recorded.tools):
            return
    say("base: the dev tools' .deb files are not archived here; fetching the newest")
    with _downloaded(recipe, sorted(set(recipe.packages)), debs.TOOLS, recipe.mirrors) as fetched:
        _replace(folder, fetched / "tools")
    if recorded:
        dataclasses.replace(recorded, tools=debs.versions(folder)).write(recipe.manifest)


def _holds(folder: Path, recorded: Manifest) -> bool:
    """True when a folder has exactly the recorded `.deb` files, tools included."""
    return (
        folder.is_dir()
        and debs.versions(folder) == dict(recorded.packages)
        and debs.versions(folder / "tools") == dict(recorded.tools)
    )


def _fetch(root: Path, recipe: BaseRecipe, include, tools, mirrors) -> Path:
    """Download a set of `.deb` files and make it the project's `.deb` folder."""
    folder = root / debs.FOLDER
    with _downloaded(recipe, include, tools, mirrors) as fetched:
        _replace(folder, fetched)
    return folder


@contextlib.contextmanager
def _downloaded(recipe: BaseRecipe, include, tools, mirrors) -> Iterator[Path]:
    """A temporary folder of freshly downloaded `.deb` files (see `debs.download`)."""
    say("base: downloading the .deb files (about 30 s)")
    with tempfile.TemporaryDirectory(prefix="lockstep-debs-", dir=scratch_dir()) as tmp:
        fetched = Path(tmp) / "debs"
        debs.download(
            recipe.suite,
            fetched,
            include=include,
            tools=tools,
            mirrors=mirrors,
            epoch=recipe.epoch,
            unshare=os.geteuid() != 0,
        )
        yield fetched


def _replace(folder: Path, new: Path) -> None:
    """Make `new` (moved) the content of `folder`."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(new, folder)


def build(
    recipe: BaseRecipe,
    engine: Engine,
    folder: Path,
    recorded: Manifest | None,
    source: str,
    strict: bool,
) -> Base:
    """Build the base from the `.deb` files in `folder`, load it, and record it in the manifest.

    Raises:
        BaseImageError: `strict` and the packages or the image id differ from the record.
    """
    found = Manifest(recipe.suite, debs.versions(folder), debs.versions(folder / "tools"))
    changes = found.changes_from(recorded) if recorded else []
    if changes and strict:
        raise BaseImageError(
            f"the base image would differ from {recipe.manifest.name}: "
            + manifest.summarise(changes),
            "review the changes, then run without --strict to accept them",
        )
    say(f"base: building from {len(found.packages)} .deb files (about 30 s)")
    with tempfile.TemporaryDirectory(prefix="lockstep-base-", dir=scratch_dir()) as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        bootstrap(recipe, folder, found, rootfs)
        installed = installed_packages(rootfs)
        if installed != dict(found.packages):
            raise BaseImageError(
                "the bootstrap installed other packages than the .deb files: "
                + manifest.summarise(manifest.diff(found.packages, installed)),
                f"delete {debs.FOLDER} and rebuild with `invoke build --update-base`",
            )
        config = image_config(
            arch=shell.output(["dpkg", "--print-architecture"]),
            epoch=recipe.epoch,
            diff_id=sha256_file(rootfs),
            created_by=_created_by(recipe),
        )
        tag = tag_for(recipe, found)
        image = Path(tmp) / "image.tar"
        write_image_archive(image, layer=rootfs, config=config, tag=tag, epoch=recipe.epoch)
        load_image(engine, image, tag, expected_id=_digest(config))
    image_id = _digest(config)
    note = ""
    if recorded and recorded.image and not changes and recorded.image != image_id:
        note = f"image id {image_id[7:19]} is not the recorded {recorded.image[7:19]}"
        if strict:
            raise BaseImageError(
                f"the rebuilt base image differs from {recipe.manifest.name}: {note}",
                "check that mmdebstrap is the version the image was recorded with",
            )
    dataclasses.replace(found, image=image_id).write(recipe.manifest)
    return Base(tag, image_id, source, tuple(changes), note)


def bootstrap(recipe: BaseRecipe, folder: Path, packages: Manifest, rootfs: Path) -> None:
    """Write the root filesystem tarball from the `.deb` files in `folder`.

    Raises:
        BaseImageError: mmdebstrap is missing or failed.
    """
    with debs.served(folder, recipe.suite) as source:
        cmd = bootstrap_command(recipe, packages, rootfs, source, unshare=os.geteuid() != 0)
        debs.run_mmdebstrap(cmd, recipe.epoch)


def bootstrap_command(
    recipe: BaseRecipe, packages: Manifest, rootfs: Path, source: str, *, unshare: bool
) -> list[str]:
    """The mmdebstrap command that bootstraps `packages` from the apt `source` into `rootfs`.

    Every package is named with its version, so apt has nothing to choose; apt's auto-installed
    marks are then set by rule (all but the recipe's packages), as a live bootstrap would leave
    them, whatever the order apt installed them in. Run it with SOURCE_DATE_EPOCH set.

    Args:
        recipe: the suite and the packages asked for.
        packages: every package to install, with its version.
        rootfs: the tarball to write.
        source: the apt sources line of a repository holding exactly those packages.
        unshare: run without root, in a user namespace (the user's /etc/subuid entry).
    """
    auto = sorted(set(packages.packages) - set(recipe.packages))
    cmd = debs.mmdebstrap(
        "--include=" + ",".join(packages.pins()),
        # The .deb files are served, not copied in: there is nothing to unlink.
        "--skip=essential/unlink",
        "--customize-hook=" + HOST_FILES_HOOK,
        f'--customize-hook=chroot "$1" apt-mark auto {shlex.join(auto)} >/dev/null',
        '--customize-hook=if [ -x "$1/usr/bin/python3" ]; then chroot "$1" python3 -c '
        + shlex.quote(PYC_HOOK)
        + "; fi",
        f'--customize-hook=printf %s {shlex.quote(SOURCES_NOTE)} > "$1/etc/apt/sources.list"',
    )
    if unshare:
        cmd.append("--mode=unshare")
    return [*cmd, recipe.suite, str(rootfs), source]


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


def _created_by(recipe: BaseRecipe) -> str:
    """The history line: how the layer was made."""
    include = ",".join(sorted(set(recipe.packages)))
    return f"mmdebstrap --variant=minbase --include={include} {recipe.suite}"


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


def _digest(data: bytes) -> str:
    """`sha256:<hex>` of bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical_json(value: object) -> bytes:
    """JSON with sorted keys and no whitespace, so equal values give equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def scratch_dir() -> str | None:
    """A temp directory on disk rather than in RAM: the build needs about 500 MB."""
    return "/var/tmp" if os.path.isdir("/var/tmp") and os.access("/var/tmp", os.W_OK) else None


def _last_line(text: str) -> str:
    """The last non-empty line of a command's output."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
