"""Push images to a registry and pull them back by digest, checking they are the same image.

An image's id is the digest of its config, which a registry keeps intact: pulling
`repository@sha256:<manifest digest>` gives back exactly the image id that was pushed, and the
kit checks that it does.
"""

from __future__ import annotations

from lockstep import lineage
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import CommandError, ImageNotFoundError, RegistryError
from lockstep.images import base, manifest


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
            raise RegistryError(
                f"cannot push to {repo}: {exc.message}",
                "check the `registry` setting and that the registry is running",
            ) from None
    return digest_of(engine, image_id, repo)


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
        ImageNotFoundError: it pulled, but the image is not the recorded one.
    """
    try:
        engine.run("pull", "--quiet", ref, capture=True)
    except CommandError as exc:
        raise RegistryError(f"cannot pull {ref}: {exc.message}", "is the registry up?") from None
    got = engine.image_id(ref)
    if got != expected_id:
        raise ImageNotFoundError(
            f"{ref} is image {got}, not the recorded {expected_id}",
            "the registry holds a different image under that digest; do not trust it",
        )


def push_recorded(settings: Settings, engine: Engine) -> dict[str, str]:
    """Push every image the workspace's lineage names; record each digest; return them by id."""
    if not settings.registry:
        raise RegistryError(
            "no registry configured", 'set registry = "host:port" in [tool.lockstep]'
        )
    repo = repository(settings.registry, settings.image)
    record = lineage.read(settings.path(lineage.PATH))
    pushed = {}
    for image_id, run in record.images().items():
        local = engine.inspect(image_id)
        if local is None:
            raise ImageNotFoundError(
                f"image {image_id[:19]} named in {lineage.PATH} is not in the local engine",
                "pull it (`invoke pull REV`) or rerun `invoke repro`",
            )
        ours = [t for t in local.get("RepoTags") or [] if t.startswith(f"{settings.image}:")]
        # An image pulled by digest has no tags: push it under the tag it was recorded with.
        tags = ours or [run.environment.image_tag]
        pushed[image_id] = push(engine, image_id, tags, repo)
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
