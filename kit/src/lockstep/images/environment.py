"""The environment image: the Dockerfile's `base` stage and the locked distributions.

The runtime image is this image with the kit's labels (`lockstep.images.builder`): neither holds
the project's source, which runs mount from the workspace. The kit assembles it
(`lockstep.images.assembly`) instead of letting `docker build` install the lock as one layer,
so that:

- its layers follow the layer plan (`lockstep.images.layers`): one per heavy distribution, the
  long tail in a few groups, so a lock bump ships one small layer, not all of them;
- a lock bump installs only the distribution that changed (`lockstep.images.packages`);
- two builds of the same inputs give the same image id on any engine, with empty caches
  (`lockstep.images.tars`), which `invoke build --check` verifies.

BuildKit still runs the Dockerfile's `base` stage (the user, the venv, ENV, USER, CMD) and its
`export` stage (uv, Poetry, and the hashed requirements exported from poetry.lock); the layers
`base` adds are rewritten byte-reproducibly and its settings taken as they are.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lockstep import engines
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import BuildError, CommandError
from lockstep.files import atomic_write
from lockstep.images import assembly, layers, packages, tars
from lockstep.images.assembly import LABEL, Part
from lockstep.images.layers import LAYERS_LABEL
from lockstep.shell import say

# The environment has no source of its own: the project's fingerprint module is mounted.
FINGERPRINT_MODULE = "src/lockstep/runtime/fingerprint.py"
# Where `describe` mounts the running kit's package (read-only) to run its fingerprint module.
SOURCE_MOUNT = "/opt/lockstep/src"
KIT_PACKAGE = Path(__file__).resolve().parents[1]
# Bump when the way environments are assembled changes.
FORMAT_VERSION = 2
KEY_FILES = (
    "pyproject.toml",
    "poetry.lock",
    "docker/toolchain/uv.txt",
    "docker/toolchain/poetry.txt",
    packages.INSTALL_SCRIPT,
    packages.COMPILE_SCRIPT,
)
# The exported runtime requirements, in the `export` stage.
REQUIREMENTS = "/requirements/main.txt"
# Where the image keeps them (`lockstep.runtime.fingerprint` reads them there).
IMAGE_REQUIREMENTS = "opt/lockstep/requirements.txt"
# Layers a BuildKit stage adds are small (a user, an empty venv): held in memory.
SMALL_LAYER = 16 * 1024 * 1024


@dataclass(frozen=True)
class Environment:
    """An environment image in the engine.

    Attributes:
        tag: `<image>:env-<12 hex>`.
        record: its `docker image inspect` record.
        installed: the distributions this call installed ("name version"); empty when every
            tree came from the cache or the image existed.
    """

    tag: str
    record: dict
    installed: tuple[str, ...] = ()

    @property
    def labels(self) -> dict[str, str]:
        """Its labels."""
        return self.record["Config"].get("Labels") or {}

    @property
    def layers(self) -> list[dict]:
        """Each layer's name, size and history line, as `invoke build --plan` prints them."""
        return json.loads(self.labels[LAYERS_LABEL])

    def parts(self) -> list[Part]:
        """Its layers, as parts of an image built on it (all in the engine already)."""
        return [
            Part(layer["history"], digest, layer["bytes"])
            for layer, digest in zip(self.layers, self.record["RootFS"]["Layers"], strict=True)
        ]


def key(settings: Settings, base_id: str) -> str:
    """Everything the environment is made of: recipe, lock, toolchain, base image, epoch."""
    hasher = hashlib.sha256(
        f"{FORMAT_VERSION}\0{base_id}\0{settings.base.epoch}\0"
        f"{layers.OWN_LAYER_BYTES}\0{layers.GROUPS}\0".encode()
    )
    for name in (settings.dockerfile, *KEY_FILES):
        data = settings.path(name).read_bytes()
        hasher.update(f"{name}\0{len(data)}\0".encode() + data)
    # The fingerprint the environment is labelled with is computed by this module.
    data = fingerprint_module(settings).read_bytes()
    hasher.update(f"{FINGERPRINT_MODULE}\0{len(data)}\0".encode() + data)
    return hasher.hexdigest()


def fingerprint_module(settings: Settings) -> Path:
    """The module that computes the fingerprint label.

    The project's own copy of the kit where it has one (the kit's repository), else the running
    kit's, which the project's lock pins.
    """
    own = settings.path(FINGERPRINT_MODULE)
    return own if own.is_file() else KIT_PACKAGE / "runtime" / "fingerprint.py"


def obtain(
    settings: Settings,
    engine: Engine,
    base_ref: str,
    base_id: str,
    *,
    cache: Path | None = None,
    uv_cache: str = "",
    fresh: str = "",
) -> Environment:
    """The environment image for the current lock: found in the engine, or assembled.

    Args:
        settings: the project's settings.
        engine: the Docker engine.
        base_ref: the base image's reference (`lockstep-base:<12 hex>`).
        base_id: the base image's id.
        cache: where distribution trees are kept (default: the user's cache).
        uv_cache: the volume holding uv's download cache (default: `packages.install`'s).
        fresh: assemble a second one from scratch, BuildKit's cache unused (`build --check`),
            its images tagged with this name of the check's own (`engines.own_name`).
    """
    env_key = key(settings, base_id)
    tag = f"{settings.image}:env-{env_key[:12]}{'-' + fresh if fresh else ''}"
    record = None if fresh else engine.inspect(tag)
    labels = (record or {}).get("Config", {}).get("Labels") or {}
    if LAYERS_LABEL in labels and f"{LABEL}.fingerprint" in labels:
        return Environment(tag, record)
    cache = cache or packages.cache_root()
    epoch = settings.base.epoch
    stage = engine.inspect(_stage(settings, engine, "base", base_ref, fresh))
    export = _stage(settings, engine, "export", base_ref, fresh)
    exported = _read(engine, export, REQUIREMENTS)
    requirements = packages.parse(exported)
    base_layers = engine.inspect(base_id)["RootFS"]["Layers"]
    parts = [Part(f"base image {base_ref}", digest, 0) for digest in base_layers]
    parts += _stage_parts(engine, stage, len(base_layers), cache, epoch)
    # By content, not BuildKit's image id, which a rebuild of the same stage changes.
    salt = packages.salt(settings.root, "".join(part.digest for part in parts))
    found = {r: packages.cached(cache, r, salt) for r in requirements}
    missing = [r for r, package in found.items() if package is None]
    if missing:
        kept = packages.install(
            settings.root,
            engine,
            export,
            missing,
            salt,
            cache=cache,
            ca_bundle=settings.ca_bundle_path(),
            uv_cache=uv_cache,
        )
        found.update(zip(missing, kept, strict=True))
    plan = layers.plan([found[r] for r in requirements])
    (cache / "tmp").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache / "tmp") as scratch:
        parts += [layers.part(layer, cache, epoch, Path(scratch)) for layer in plan]
        # Last: it changes with every bump, and a layer's change reloads the ones after it.
        parts.append(_requirements_part(exported.encode(), epoch))
        names = ["base"] * len(base_layers) + ["user and venv"] * (len(parts) - len(base_layers))
        names[len(parts) - len(plan) - 1 :] = [*(layer.name for layer in plan), "requirements"]
        environment = _load(settings, engine, tag, stage, parts, names)
    installed = tuple(f"{r.name} {r.version}" for r in missing)
    return dataclasses.replace(environment, installed=installed)


def _load(settings, engine, tag, stage, parts, names) -> Environment:
    """Load the environment (first to compute its fingerprint inside, then labelled with it)."""
    epoch = settings.base.epoch
    summary = [
        {"layer": name, "bytes": part.size, "history": part.description}
        for name, part in zip(names, parts, strict=True)
    ]
    labels = {LAYERS_LABEL: json.dumps(summary, separators=(",", ":"))}
    candidates = engine.output(
        "image", "ls", "--quiet", "--no-trunc", "--filter", f"label={LAYERS_LABEL}"
    ).split()
    have = assembly.present(engine, [p.digest for p in parts], [stage["Id"], *candidates])
    say(f"environment: {len(parts)} layers, {len(parts) - have} to load")
    # Tagged with a name of this build's own, and removed by it: two clones building one
    # environment at once load the same draft (its id is its content), and removing it by id
    # could pull it from under the other's `describe`.
    draft = engines.own_name(f"{tag}-draft")
    assembly.load(engine, assembly.config(stage, parts, labels, epoch), parts, [draft], have=have)
    try:
        described = describe(engine, draft)
        labels |= {
            f"{LABEL}.fingerprint": described["fingerprint"],
            f"{LABEL}.python": described["python"],
            f"{LABEL}.dvc": described["distributions"].get("dvc", ""),
        }
        assembly.load(
            engine, assembly.config(stage, parts, labels, epoch), parts, [tag], have=len(parts)
        )
    finally:
        # After the final load, which takes the draft's layers as loaded already.
        engine.run("image", "rm", draft, capture=True, quiet=True, check=False)
    return Environment(tag, engine.inspect(tag))


def describe(engine: Engine, ref: str) -> dict:
    """What the fingerprint covers, computed inside the image (no network).

    The image holds no source: the kit's own package is mounted for the run (its fingerprint
    module needs only the standard library). The kit's, not the project's src/: a project's
    src/lockstep may be a link that leads out of the folder mounted.
    """
    out = engine.output(
        "run",
        "--rm",
        "--network",
        "none",
        "--volume",
        f"{KIT_PACKAGE}:{SOURCE_MOUNT}/lockstep:ro",
        "--env",
        f"PYTHONPATH={SOURCE_MOUNT}",
        ref,
        "python",
        "-m",
        "lockstep.runtime.fingerprint",
        "--json",
    )
    return json.loads(out)


def _stage(settings: Settings, engine: Engine, target: str, base_ref: str, fresh: str) -> str:
    """Build one stage of the Dockerfile with BuildKit; its image id.

    The id is the one this build wrote (`--iidfile`), never the tag's: a build of another
    project with the same image name may move the tag in between.
    """
    tag = f"{settings.image}-build:{target}{'-' + fresh if fresh else ''}"
    with tempfile.TemporaryDirectory(prefix="lockstep-stage-") as tmp:
        written = Path(tmp) / "id"
        extra = ["--iidfile", str(written), *(["--no-cache"] if fresh else [])]
        docker_build(settings, engine, target, tag, base_ref, *extra)
        return written.read_text().strip()


def docker_build(
    settings: Settings, engine: Engine, target: str, tag: str, base_ref: str, *extra: str
) -> str:
    """`docker build` of one Dockerfile target with BuildKit, streaming and returning its log.

    The CA bundle reaches it as a BuildKit secret (mounted while the installers run, never in a
    layer); `extra` are more `docker build` arguments.
    """
    args = ["build", "--progress=plain", "-f", str(settings.path(settings.dockerfile))]
    args += ["--target", target, "--build-arg", f"BASE_IMAGE={base_ref}"]
    args += ["--build-arg", f"SOURCE_DATE_EPOCH={settings.base.epoch}", "-t", tag, *extra]
    ca = settings.ca_bundle_path()
    if ca:
        args += ["--secret", f"id=ca,src={ca}"]
    try:
        return engine.run(*args, str(settings.root), tee=True).stdout
    except CommandError as exc:
        raise BuildError(
            f"docker build of target {target!r} failed: {exc.message}",
            "read the build log above; a network error often means a missing CA bundle "
            "(set PIP_CERT or ca_bundle in [tool.lockstep])",
            log=exc.log,
        ) from None


def _requirements_part(data: bytes, epoch: int) -> Part:
    """The exported requirements, where the fingerprint reads which distributions count."""
    info = tarfile.TarInfo(IMAGE_REQUIREMENTS)
    info.size, info.mode = len(data), 0o644
    entries = [tars.Entry(info, lambda: io.BytesIO(data))]
    return assembly.in_memory(f"exported requirements: /{IMAGE_REQUIREMENTS}", entries, epoch)


def _read(engine: Engine, image: str, path: str) -> str:
    return engine.output("run", "--rm", "--network", "none", "--user", "0", image, "cat", path)


def _stage_parts(engine: Engine, stage: dict, skip: int, cache: Path, epoch: int) -> list[Part]:
    """The layers the `base` stage adds to the base image, rewritten byte-reproducibly.

    Each is kept in the cache by the digest BuildKit gave it, so the stage's image is read
    (`docker save`) only when the stage changed.
    """
    raw = stage["RootFS"]["Layers"][skip:]
    folder = cache / "layers"
    folder.mkdir(parents=True, exist_ok=True)
    kept = {digest: folder / f"stage-{digest[7:]}-{epoch}.tar" for digest in raw}
    if not all(path.exists() for path in kept.values()):
        saved = engine.read_from("save", stage["Id"], consume=_small_layers)
        for digest, path in kept.items():
            buffer = io.BytesIO()
            tars.write(buffer, tars.from_tar(io.BytesIO(saved[digest])), epoch)
            atomic_write(path, buffer.getvalue())
    # Rewriting a normalised tar gives it back byte for byte.
    return [
        assembly.in_memory(
            f"docker/Dockerfile stage base, layer {number}",
            tars.from_tar(io.BytesIO(path.read_bytes())),
            epoch,
        )
        for number, path in enumerate(kept.values(), 1)
    ]


def _small_layers(stream) -> dict[str, bytes]:
    """The small layer tars of a `docker save` stream, by their sha256."""
    found = {}
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            small = member.isfile() and member.size <= SMALL_LAYER
            if small and member.name.endswith("layer.tar"):
                data = tar.extractfile(member).read()
                found["sha256:" + hashlib.sha256(data).hexdigest()] = data
    return found
