"""Build, tag and describe the project's images; reuse them by content.

Every image gets two tags: a content tag (`<image>:<12 hex>`) derived from everything that goes
into it (Dockerfile, lock, pyproject.toml, base image id, toolchain lock, the fingerprint module,
target), and a commit tag (`<image>:git-<sha>`; `-dirty-<content>` when the tree is). When the
content tag exists, nothing is built. Labels under `io.lockstep.` record the lock hash, the base
image, the environment fingerprint and the layers (the dev image also its content key).

The runtime image is the environment (`lockstep.images.environment`) and nothing else: no
project source, which runs mount from the workspace. So its id is a function of the locks, the
toolchain and the Dockerfile alone: a source edit builds nothing, and any clone rebuilds the
image a result names from that revision's locks. The dev image is the Dockerfile's `dev` stage
on top, built by BuildKit.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

from lockstep import engines, git, paths, tools
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.files import atomic_write
from lockstep.images import assembly, base, debs, environment
from lockstep.images.assembly import LABEL
from lockstep.runtime import fingerprint
from lockstep.shell import say

# Bump when the way images are built changes, so an old image is never taken for a new one.
# 4: the runtime image holds no source.
FORMAT_VERSION = 4
CONTEXT_FILES = (
    "pyproject.toml",
    "poetry.lock",
    "docker/toolchain/uv.txt",
    "docker/toolchain/poetry.txt",
    "docker/toolchain/compile-bytecode.sh",
    "docker/toolchain/install-packages.sh",
)


@dataclass(frozen=True)
class Image:
    """A built image and what the kit knows about it."""

    id: str
    tag: str
    commit_tag: str
    labels: dict
    # The build's output when this call built the image; "" when an existing image was reused.
    log: str = dataclasses.field(default="", compare=False, repr=False)
    # The base image as this call obtained it (how, and what differs from the record).
    base_image: base.Base | None = dataclasses.field(default=None, compare=False, repr=False)
    # The distributions this call installed ("name version"): none when the lock is unchanged.
    installed: tuple[str, ...] = dataclasses.field(default=(), compare=False, repr=False)

    @property
    def fingerprint(self) -> str:
        """The environment fingerprint, computed inside the image at build time."""
        return self.labels[f"{LABEL}.fingerprint"]

    def label(self, name: str) -> str:
        """One of our labels, by its short name."""
        return self.labels.get(f"{LABEL}.{name}", "")


def repository(settings: Settings, target: str) -> str:
    """Image repository name for a Dockerfile target."""
    return settings.image if target == "runtime" else f"{settings.image}-{target}"


def lock_hash(settings: Settings) -> str:
    """sha256 of poetry.lock."""
    return hashlib.sha256(settings.path("poetry.lock").read_bytes()).hexdigest()


def input_files(settings: Settings, target: str) -> list[Path]:
    """The files an image is made from: locks, toolchain and recipe; never the source."""
    files = [settings.path(settings.dockerfile), *(settings.path(f) for f in CONTEXT_FILES)]
    # The only source the key covers: the module that computes the fingerprint label.
    files.append(environment.fingerprint_module(settings))
    if target == "dev":
        files += sorted(p for p in settings.path(debs.TOOLS_FOLDER).rglob("*") if p.is_file())
    return files


def content_key(settings: Settings, target: str, base_id: str) -> str:
    """Hash of every input of the image: its files (`input_files`) and its base."""
    hasher = hashlib.sha256(f"{FORMAT_VERSION}\0{target}\0{base_id}\0".encode())
    for path in input_files(settings, target):
        data = path.read_bytes()
        inside = path.is_relative_to(settings.root)
        name = path.relative_to(settings.root) if inside else environment.FINGERPRINT_MODULE
        hasher.update(f"{name}\0{len(data)}\0".encode() + data)
    return hasher.hexdigest()


def commit_tag(settings: Settings, target: str, content: str) -> str:
    """`<repo>:git-<sha12>`, or `<repo>:git-<sha12>-dirty-<content>` when the tree differs.

    `content` is the content tag's hex. A commit names one set of inputs, but a changed tree
    does not: two clones at one commit, one with an edited lock, would otherwise move one
    `-dirty` tag back and forth, each undoing the tag the other's recorded build checks.
    """
    sha, dirty = git.state(settings.root)
    marker = f"-dirty-{content}" if dirty else ""
    return f"{repository(settings, target)}:git-{sha[:12] or 'none'}{marker}"


def resolve_base(
    settings: Settings, engine: Engine, *, update: bool = False, strict: bool = False
) -> base.Base:
    """The base image, in the engine: found, fetched or rebuilt (see `lockstep.images.base`)."""
    if settings.base.bootstrap:
        return base.obtain(
            settings.root,
            base.recipe(settings),
            engine,
            registry_address=settings.registry,
            strict=strict,
            update=update,
        )
    ref = settings.base.image
    if engine.image_id(ref) is None:
        engine.run("pull", ref)
    return base.Base(ref, engine.image_id(ref) or "", "pulled from its registry")


def own_labels(settings: Settings, found: base.Base) -> dict[str, str]:
    """The labels the kit gives an image of its own, by their short names.

    What the image holds, nothing about where or when it was built: the same files must give
    the same image id at any commit, with any pyproject.toml edit that does not change them.
    The tags and lineage say which inputs and which commit built what.
    """
    return {"lock-sha256": lock_hash(settings), "base": f"{found.ref}@{found.id}"}


def find(settings: Settings, engine: Engine, target: str = "runtime") -> Image | None:
    """The image for the current inputs, if it was built already."""
    found = resolve_base(settings, engine)
    return _existing(settings, engine, target, content_key(settings, target, found.id))


def build(
    settings: Settings,
    engine: Engine,
    target: str = "runtime",
    *,
    update_base: bool = False,
    strict: bool = False,
    checked_lock: bool = False,
) -> Image:
    """Build the image for `target` unless an image with the same content exists.

    The runtime image is the environment image (`lockstep.images.environment`) with the kit's
    labels, assembled byte-reproducibly, with no source; the dev image is the Dockerfile's `dev`
    stage built on it by BuildKit.

    Args:
        settings: the project's settings.
        engine: the Docker engine.
        target: the Dockerfile target, "runtime" or "dev".
        update_base: rebuild the base from the live mirror and accept its packages.
        strict: refuse a base that differs from the committed manifest.
        checked_lock: poetry.lock is known to match pyproject.toml (a past revision's, which
            built an image once): Poetry is not asked again.

    Raises:
        LockfileError: poetry.lock does not match pyproject.toml.
        BuildError: the build failed; `log` holds its output.
    """
    found = resolve_base(settings, engine, update=update_base, strict=strict)
    if target == "dev" and settings.base.bootstrap:
        base.ensure_tools(settings.root, base.recipe(settings))
    key = content_key(settings, target, found.id)
    existing = _existing(settings, engine, target, key)
    if existing:
        say(f"{existing.tag} is up to date ({existing.id[:19]})")
        return dataclasses.replace(existing, base_image=found)
    if not checked_lock:
        check_lock(settings)
    labels = own_labels(settings, found)
    tags = [f"{repository(settings, target)}:{key[:12]}", commit_tag(settings, target, key[:12])]
    if target == "runtime":
        env = environment.obtain(settings, engine, found.ref, found.id)
        assemble(settings, engine, env, labels, tags)
        image = _existing(settings, engine, target, key)
        return dataclasses.replace(image, base_image=found, installed=env.installed)
    runtime = build(settings, engine, update_base=update_base, strict=strict)
    # A name of this build's own: two checkouts building the same dev image on one engine
    # must not remove each other's staging image.
    staging = engines.own_name(f"{tags[0]}-staging")
    labels["content-key"] = key  # the dev image is BuildKit's: its id is not reproducible
    extra = [f"--label={LABEL}.{name}={value}" for name, value in labels.items()]
    extra += ["--build-arg", f"RUNTIME_IMAGE={runtime.tag}"]
    log = environment.docker_build(settings, engine, target, staging, found.ref, *extra)
    try:
        # Label the fingerprint, computed inside the image, in a metadata-only build.
        description = environment.describe(engine, staging)
        final = {
            "fingerprint": description["fingerprint"],
            "python": description["python"],
            "dvc": description["distributions"].get("dvc", ""),
        }
        dockerfile = f"FROM {staging}\nLABEL " + " ".join(
            f'{LABEL}.{name}="{value}"' for name, value in final.items()
        )
        engine.run("build", "--quiet", *_tag_args(tags), "-", input=dockerfile, capture=True)
    finally:
        engine.run("image", "rm", staging, capture=True, quiet=True, check=False)
    return dataclasses.replace(_existing(settings, engine, target, key), log=log, base_image=found)


def assemble(
    settings: Settings, engine: Engine, env: environment.Environment, labels: dict, tags: list
) -> str:
    """Load the runtime image: the environment's layers, labelled; its id.

    Only the config is new (every layer is the environment's), so it loads in a moment.
    """
    parts = env.parts()
    every = env.labels | {f"{LABEL}.{name}": value for name, value in labels.items()}
    document = assembly.config(env.record, parts, every, settings.base.epoch)
    return assembly.load(engine, document, parts, tags, have=len(parts))


def _tag_args(tags: list[str]) -> list[str]:
    return [arg for tag in tags for arg in ("-t", tag)]


def check_lock(settings: Settings) -> None:
    """Refuse to build from a poetry.lock that no longer matches pyproject.toml.

    Poetry takes about a second to say so; a pair of files it accepted once is remembered by
    content, so a rebuild after a source change does not ask again.
    """
    hasher = hashlib.sha256()
    for name in ("pyproject.toml", "poetry.lock"):
        data = settings.path(name).read_bytes()
        hasher.update(len(data).to_bytes(8, "big") + data)
    stamp, accepted = settings.path(paths.LOCK_CHECKED), hasher.hexdigest()
    if stamp.exists() and stamp.read_text() == accepted:
        return
    if fingerprint.inside_image():
        return  # The devcontainer has no host Poetry; the build's own export checks the lock.
    # The project's pinned Poetry (installed once, as ./inv does), never one from PATH.
    tools.check_lock(tools.ensure_poetry(settings.root), settings.root)
    atomic_write(stamp, accepted.encode())


def _existing(settings: Settings, engine: Engine, target: str, key: str) -> Image | None:
    tag = f"{repository(settings, target)}:{key[:12]}"
    record = engine.inspect(tag)
    labels = (record or {}).get("Config", {}).get("Labels") or {}
    # The tag is only a name: the image must be one the kit finished (labelled with its
    # fingerprint), and a dev image must say it was built from these inputs.
    if f"{LABEL}.fingerprint" not in labels or labels.get(f"{LABEL}.content-key", key) != key:
        return None
    by_commit = commit_tag(settings, target, key[:12])
    if by_commit not in (record.get("RepoTags") or []):
        # By id: another clone's dev build (BuildKit's, not reproducible) may have moved the
        # content tag since it was inspected.
        engine.run("tag", record["Id"], by_commit, capture=True, quiet=True)
    return Image(record["Id"], tag, by_commit, record["Config"]["Labels"])
