"""The image ladder's last rung: rebuild a past result's image from its revision's own locks.

A result names its image by id. When no engine, registry or DVC remote holds it, the revision
itself can make it: the images hold no source, so its id is a function of the revision's
`packages.lock` (through the base ladder: archived `.deb` files, snapshot, mirror), its
`poetry.lock` (through the package index), its toolchain files and its Dockerfile. They are
built in the revision's worktree, with its settings, by this kit's builder; being
byte-reproducible, the build must give the recorded id. When it does not, one phrase names what
could not be had at its recorded version, from the revision's SBOM of the recorded image.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

from lockstep import config, dvcconfig, git
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import EngineStoppedError, LockstepError
from lockstep.files import atomic_write
from lockstep.images import builder, sbom
from lockstep.shell import say

# How many packages a mismatch names before "and N more".
NAMED = 6


def rebuilt(
    settings: Settings,
    engine: Engine,
    image_id: str,
    tree: Path,
    commit: str,
    rev: str,
    pinned: dict,
) -> str | None:
    """Build the image `rev`'s locks make, in its worktree `tree`; None when it is `image_id`.

    The revision's files choose what the image holds, never this host's settings: the CA bundle,
    the registry and the docker CLI are the current checkout's, and so are the DVC cache and
    remote (`pinned`: `share.remote.checkout_remote`'s) the base ladder restores files from.

    Returns:
        None when the rebuild gave the recorded id, else why not, in a phrase.
    """
    past = dataclasses.replace(
        config.load(tree),
        ca_bundle=str(settings.ca_bundle_path() or ""),
        registry=settings.registry,
        docker=settings.docker,
    )
    say(f"image: rebuilding {image_id[:19]} from the locks of {rev}")
    try:
        with _shared_dvc(settings.root, tree, pinned):
            # The revision's lock built the recorded image once: it is not checked again.
            # Strict: a base whose .deb files drifted cannot give the recorded id, so the rung
            # names the drift instead of bootstrapping an image it would then refuse.
            image = builder.build(past, engine, checked_lock=True, strict=True)
    except EngineStoppedError:
        raise
    except LockstepError as exc:
        return f"not rebuilt from the locks of {rev} ({exc.message})"
    if image.id == image_id:
        say(f"image: rebuilt from the locks of {rev} (exact)")
        return None
    why = differences(settings.root, engine, commit, image_id, image.id)
    return f"rebuilt from the locks of {rev} as {image.id[:19]}, not the recorded image: {why}"


def differences(root: Path, engine: Engine, commit: str, recorded: str, rebuilt_id: str) -> str:
    """What the rebuilt image holds at another version than the recorded one, in a phrase."""
    name = sbom.path(root, recorded).relative_to(root).as_posix()
    try:
        text = git.show(root, commit, name)
    except LockstepError:
        return f"no SBOM of the recorded image ({name}) to say which packages differ"
    return mismatch(text, sbom.made(engine, rebuilt_id, "rebuilt"))


def mismatch(recorded: str, rebuilt_sbom: str) -> str:
    """Which packages of the recorded SBOM the rebuilt one lacks at that version, in a phrase."""
    before, now = packages(recorded), packages(rebuilt_sbom)
    changed = [
        f"{kind} {name} {version} (rebuilt: {now.get((kind, name), 'absent')})"
        for (kind, name), version in sorted(before.items())
        if now.get((kind, name)) != version
    ]
    added = sorted(
        f"{kind} {name} {now[(kind, name)]}" for kind, name in now.keys() - before.keys()
    )
    if not changed and not added:
        return (
            "every package at its recorded version: the layers were assembled otherwise "
            "(another version of the kit made the recorded image?)"
        )
    listed = changed + [f"{entry} (not recorded)" for entry in added]
    more = f" and {len(listed) - NAMED} more" if len(listed) > NAMED else ""
    return "not at their recorded versions: " + ", ".join(listed[:NAMED]) + more


def packages(document: str) -> dict[tuple[str, str], str]:
    """An SBOM's packages: ("deb" or "pypi", name) -> version."""
    found = {}
    for component in json.loads(document).get("components", []):
        kind = component.get("purl", "").removeprefix("pkg:").split("/", 1)[0]
        found[(kind, component["name"])] = component.get("version", "")
    return found


@contextlib.contextmanager
def _shared_dvc(root: Path, tree: Path, pinned: dict) -> Iterator[None]:
    """While the image is built, the worktree's DVC uses the checkout's cache and remote.

    The base ladder restores the archived `.deb` files and image layouts with DVC in the
    worktree; a past revision's own remote may be one the project has left. The worktree's own
    settings come back afterwards: the replay's pipeline runs DVC in a container, where the
    checkout's cache path does not exist (a user other than root may not even create it there).
    """
    local = tree / ".dvc" / "config.local"
    kept = local.read_bytes() if local.exists() else None
    try:
        dvcconfig.share_cache(tree, dvcconfig.cache_dir(root))
        if pinned:
            name = pinned["remote"]
            dvcconfig.set_local(tree, "core.remote", name)
            for key, value in pinned["remote_config"].items():
                dvcconfig.set_local(tree, f"remote.{name}.{key}", str(value))
        yield
    finally:
        if kept is None:
            local.unlink(missing_ok=True)
        else:
            atomic_write(local, kept)
