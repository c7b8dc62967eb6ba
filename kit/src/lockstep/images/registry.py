"""Push images to a registry and pull them back by digest, checking they are the same image.

An image's id is the digest of its config, which a registry keeps intact: pulling
`repository@sha256:<manifest digest>` gives back exactly the image id that was pushed, and the
kit checks that it does.
"""

from __future__ import annotations

import re

from lockstep import config, git, workspace
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import (
    CommandError,
    ImageNotFoundError,
    LineageError,
    RegistryError,
    RegistryGoneError,
)
from lockstep.images import base, manifest, store
from lockstep.records import lineage
from lockstep.shell import say


def repository(registry: str, image: str) -> str:
    """`host:port/name` for an image name in a registry."""
    return f"{registry.rstrip('/')}/{image}"


def push(engine: Engine, image_id: str, tags: list[str], repo: str) -> str:
    """Push an image under each tag (the part after ':'); return its manifest digest."""
    for tag in tags:
        remote = f"{repo}:{tag.rsplit(':', 1)[1]}"
        engine.run("tag", image_id, remote, capture=True, quiet=True)
        try:
            engine.run("push", remote, capture=True)
        except CommandError as exc:
            # Leave no tag behind for a registry that never got the image.
            engine.run("image", "rm", remote, capture=True, quiet=True, check=False)
            raise failed("push", repo, exc.message) or RegistryError(
                f"cannot push to {repo}: {exc.message}",
                "check the `registry` setting and that the registry is running",
            ) from None
    return digest_of(engine, image_id, repo)


def failed(action: str, ref: str, detail: str) -> RegistryGoneError | None:
    """The error for a registry that went away in the middle of a push or pull; None if not.

    Gone from the start, docker's first request (`GET /v2/`) fails: that is the plain refusal.
    Midway, a later one fails, for a layer or a manifest: the engine keeps no partial image,
    and the layers the registry has whole (or the engine, for a pull) are not sent again.
    """
    if '/v2/"' in detail or not store.went_away(detail):
        return None
    host = ref.split("/", 1)[0]
    rest = "it lacks are sent" if action == "push" else "the engine lacks are fetched"
    return RegistryGoneError(
        f"the registry {host} went away during the {action} of {ref}: {detail}",
        f"check that the registry {host} is running and reachable, then run the same command "
        f"again: only the layers {rest}",
    )


def digest_of(engine: Engine, image_id: str, repo: str) -> str:
    """The manifest digest of a pushed image in `repo`, from its RepoDigests."""
    record = engine.inspect(image_id) or {}
    for ref in record.get("RepoDigests") or []:
        name, _, digest = ref.partition("@")
        if name == repo:
            return digest
    raise RegistryError(f"{image_id[:19]} has no digest in {repo}", "push it first")


def pull(engine: Engine, ref: str, expected_id: str) -> None:
    """Pull `ref` (`repo@digest`, or `repo:tag`) and check it is the expected image.

    Raises:
        RegistryError: the registry is unreachable or does not have the image.
        RegistryGoneError: it went away in the middle of the pull.
        ImageNotFoundError: it pulled, but the image is not the recorded one.
    """
    try:
        engine.run("pull", "--quiet", ref, capture=True)
    except CommandError as exc:
        raise failed("pull", ref, exc.message) or RegistryError(
            f"cannot pull {ref}: {exc.message}", "is the registry up?"
        ) from None
    got = engine.image_id(ref)
    if got != expected_id:
        raise ImageNotFoundError(
            f"{ref} is image {got}, not the recorded {expected_id}",
            "the registry holds a different image under that digest; do not trust it",
        )


def _from_archive(settings: Settings, engine: Engine, image_id: str) -> None:
    """Load an image the engine lacks from its layout in the DVC remote, to push it.

    Raises:
        ImageNotFoundError: it is not archived either.
    """
    try:
        store.load(settings.root, engine, image_id, [None])
    except ImageNotFoundError as exc:
        raise ImageNotFoundError(
            f"image {image_id[:19]} named in {lineage.PATH} is in no registry, no DVC archive "
            f"and not in the local engine ({exc.message})",
            "pull it (`invoke pull REV`) or rerun `invoke repro`",
        ) from None


@workspace.exclusive("invoke push")
def push_recorded(settings: Settings, engine: Engine) -> dict[str, str]:
    """Push every image the workspace's lineage names; record each digest; return them by id.

    An image whose push to this repository is recorded and that the engine lacks is already
    there: it is not needed here, unless a release names it (its human tag is pushed, so it is
    pulled by digest first). One the engine lacks and the registry does not hold comes from its
    layout in the DVC remote, when published there.
    """
    if not settings.registry:
        raise RegistryError(
            "no registry configured", 'set registry = "host:port" in [tool.lockstep]'
        )
    repo = repository(settings.registry, settings.image)
    record = lineage.read(settings.path(lineage.PATH))
    releases = release_tags(settings)
    pushed = {}
    for image_id, run in record.images().items():
        env = run.environment
        named = [f"{settings.image}:{tag}" for tag in releases.get(image_id, [])]
        if engine.inspect(image_id) is None:
            there = env.registry_digest and env.registry_repository == repo
            if there and not named:
                say(f"registry: {image_id[:19]} is there already ({repo}@{env.registry_digest})")
                continue
            if there:
                pull(engine, f"{repo}@{env.registry_digest}", image_id)
            else:
                _from_archive(settings, engine, image_id)
        local = engine.inspect(image_id)
        ours = [t for t in local.get("RepoTags") or [] if t.startswith(f"{settings.image}:")]
        # An image pulled by digest has no tags: push it under the tag it was recorded with.
        tags = [*(ours or [run.environment.image_tag]), *named]
        pushed[image_id] = push(engine, image_id, list(dict.fromkeys(tags)), repo)
        if named:
            say(f"registry: {image_id[:19]} tagged for " + ", ".join(releases[image_id]))
        record.record_push(image_id, repo, pushed[image_id])
    lineage.write(settings.path(lineage.PATH), record)
    recorded = manifest.recorded_base(settings)
    if recorded and engine.image_id(recorded.image):
        # The offline base too, so that a machine with no .deb archive can pull it (by its
        # tag, then checked by id: see lockstep.images.base).
        tag = base.tag_for(base.recipe(settings), recorded)
        base_repo = repository(settings.registry, base.IMAGE_NAME)
        pushed[recorded.image] = push(engine, recorded.image, [tag], base_repo)
    return pushed


def release_tags(settings: Settings) -> dict[str, list[str]]:
    """The image tags releases give: image id -> a tag per release whose lineage names it.

    A release made before the kit (no lineage) names no image.
    """
    found: dict[str, list[str]] = {}
    for release in git.tags(settings.root, config.RELEASES):
        try:
            record = lineage.read_at(settings.root, release)
        except LineageError:
            continue
        for image_id in record.images():
            found.setdefault(image_id, []).append(image_tag(release))
    return found


def image_tag(release: str) -> str:
    """A git tag as an image tag: `model/v3` -> `model-v3`.

    An image tag allows letters, digits, `_`, `.` and `-`, up to 128 characters.
    """
    return re.sub(r"[^A-Za-z0-9_.-]", "-", release)[:128]
