"""The offline Debian base image: found, fetched, or rebuilt byte for byte from its `.deb` files.

No container registry need be reachable: the base is bootstrapped with mmdebstrap from `.deb`
files served by a local apt repository (`lockstep.images.debs`), and its image archive is
assembled by `lockstep.images.oci` with a fixed creation time, so anyone with the same `.deb`
files gets the same image id, as root or not, on any machine.

The committed manifest (`lockstep.images.manifest`) records the packages and the image id.
`obtain` walks a ladder, most exact first, and says which rung gave the image:

1. the engine already holds the recorded image;
2. the configured registry has it (checked by id);
3. the DVC remote holds its image layout (`invoke publish`);
4. the recorded `.deb` files, from the DVC cache or remote, rebuild it (no mirror needed);
5. a Debian snapshot mirror, when `snapshot` is set, serves the recorded versions;
6. the live mirror: versions may have moved on. The kit proceeds, lists each change, and writes
   the new manifest (git shows it); with `strict` it refuses instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lockstep import files, shell
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import BaseImageError, EngineStoppedError, LockstepError
from lockstep.images import debs, manifest, oci, prefetch, rootfs, store
from lockstep.images.manifest import Manifest
from lockstep.shell import say

IMAGE_NAME = "lockstep-base"
# Bump whenever the way the image is assembled changes (hooks, archive layout), so an image built
# the old way is never mistaken for the new one: the number is part of the tag.
FORMAT_VERSION = 2


def recipe(settings: Settings) -> rootfs.BaseRecipe:
    """The recipe `[tool.lockstep.base]` describes."""
    cfg = settings.base
    return rootfs.BaseRecipe(
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
    recipe: rootfs.BaseRecipe,
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


def tag_for(recipe: rootfs.BaseRecipe, packages: Manifest) -> str:
    """The reference of the image a recipe builds from a set of packages.

    It covers everything the image's bytes depend on: the packages, the recipe's own packages
    (apt's auto-installed marks), the epoch, and the way the image is assembled.
    """
    key = [FORMAT_VERSION, packages.key(), sorted(set(recipe.packages)), recipe.epoch]
    digest = hashlib.sha256(oci.canonical_json(key)).hexdigest()
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
    if not (root / store.dvc_file_for(recorded.image)).exists():
        return f"no image archive ({store.dvc_file_for(recorded.image)} is not in the project)"
    try:
        store.load(root, engine, recorded.image, [None])
    except EngineStoppedError:
        raise
    except LockstepError as exc:
        return f"image archive not loaded ({exc.message})"
    engine.run("tag", recorded.image, tag, capture=True, quiet=True)
    return Base(tag, recorded.image, "loaded from the DVC remote")


def _from_archived_debs(
    root: Path, recipe: rootfs.BaseRecipe, engine: Engine, recorded: Manifest, strict: bool
) -> Base | str:
    folder = root / debs.FOLDER
    if not debs.holds(folder, recorded):
        problem = debs.restore(root)
        if problem:
            return f"no archived .deb files ({problem})"
        if not debs.holds(folder, recorded):
            return f"{debs.FOLDER}.dvc does not match {recipe.manifest.name}"
    return build(recipe, engine, folder, recorded, "rebuilt from the archived .deb files", strict)


def _from_snapshot(
    root: Path, recipe: rootfs.BaseRecipe, engine: Engine, recorded: Manifest, strict: bool
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
    root: Path, recipe: rootfs.BaseRecipe, engine: Engine, recorded: Manifest | None, strict: bool
) -> Base:
    where = ", ".join(recipe.mirrors) or "apt's configured mirror"
    folder = _fetch(root, recipe, sorted(set(recipe.packages)), debs.TOOLS, recipe.mirrors)
    source = f"rebuilt from the live mirror ({where})"
    found = build(recipe, engine, folder, recorded, source, strict)
    debs.store(root)
    return found


def ensure_tools(root: Path, recipe: rootfs.BaseRecipe) -> None:
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
    with _downloaded(root, recipe, sorted(set(recipe.packages)), debs.TOOLS, recipe.mirrors) as got:
        _replace(folder, got / "tools")
    if recorded:
        dataclasses.replace(recorded, tools=debs.versions(folder)).write(recipe.manifest)


def _fetch(root: Path, recipe: rootfs.BaseRecipe, include, tools, mirrors) -> Path:
    """Download a set of `.deb` files and make it the project's `.deb` folder."""
    folder = root / debs.FOLDER
    with _downloaded(root, recipe, include, tools, mirrors) as fetched:
        _replace(folder, fetched)
    return folder


@contextlib.contextmanager
def _downloaded(root: Path, recipe: rootfs.BaseRecipe, include, tools, mirrors) -> Iterator[Path]:
    """A folder of freshly downloaded `.deb` files (see `debs.download`), to move away.

    The same download started early (`lockstep.images.prefetch`) is taken when there is one.
    """
    request = prefetch.Request(recipe.suite, *map(tuple, (include, tools, mirrors)), recipe.epoch)
    with prefetch.claimed(root, request) as early:
        if early:
            yield early
            return
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
    """Make `new` (moved) the content of `folder`, whole or not at all.

    From another disk the files are copied: under a temp name beside `folder`, renamed once
    complete, so that a full disk leaves no truncated `.deb` where the next build takes the
    folder for the recorded set (`debs.holds` reads names, not bytes).
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    size = sum(path.stat().st_size for path in new.rglob("*.deb"))
    with (
        files.space_for("putting the .deb files in", folder, size),
        tempfile.TemporaryDirectory(prefix=".lockstep-", dir=folder.parent) as tmp,
    ):
        moved = Path(tmp) / folder.name
        shutil.move(new, moved)
        shutil.rmtree(folder, ignore_errors=True)
        moved.rename(folder)


def build(
    recipe: rootfs.BaseRecipe,
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
        layer = Path(tmp) / "rootfs.tar"
        rootfs.bootstrap(recipe, folder, found, layer)
        installed = rootfs.installed_packages(layer)
        if installed != dict(found.packages):
            raise BaseImageError(
                "the bootstrap installed other packages than the .deb files: "
                + manifest.summarise(manifest.diff(found.packages, installed)),
                f"delete {debs.FOLDER} and rebuild with `invoke build --update-base`",
            )
        config = oci.image_config(
            arch=shell.output(["dpkg", "--print-architecture"]),
            epoch=recipe.epoch,
            diff_id=oci.sha256_file(layer),
            created_by=rootfs.created_by(recipe),
        )
        tag = tag_for(recipe, found)
        image = Path(tmp) / "image.tar"
        oci.write_image_archive(image, layer=layer, config=config, tag=tag, epoch=recipe.epoch)
        oci.load_image(engine, image, tag, expected_id=oci.digest(config))
    image_id = oci.digest(config)
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


def scratch_dir() -> str | None:
    """A temp directory on disk rather than in RAM: the build needs about 500 MB."""
    return "/var/tmp" if os.path.isdir("/var/tmp") and os.access("/var/tmp", os.W_OK) else None


def _last_line(text: str) -> str:
    """The last non-empty line of a command's output."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
