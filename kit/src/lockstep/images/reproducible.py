"""`invoke build --check`: build the runtime image a second time from empty caches, compare.

The second build shares nothing with the first but the engine: BuildKit runs the Dockerfile's
stages without its cache, uv downloads into a new, empty cache volume, and every distribution is
installed into a new, empty tree cache. The same inputs must give the same image id; when they
do not, the first differing layer is opened and its first differing file named.
"""

from __future__ import annotations

import contextlib
import hashlib
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lockstep import engines
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import BuildError
from lockstep.images import builder, environment, packages
from lockstep.shell import say


def check(settings: Settings, engine: Engine) -> builder.Image:
    """Build the runtime image twice, the second time from empty caches; return the image.

    Raises:
        BuildError: the two builds differ; the message names the first differing file.
    """
    first = builder.build(settings, engine)
    say("check: building again from empty caches (BuildKit, uv, distribution trees)")
    with from_empty_caches(settings, engine, first) as second:
        if second != first.id:
            where = first_difference(engine, first.id, second)
            raise BuildError(
                f"two builds of the same inputs differ: {first.id[:19]} and {second[:19]}: {where}",
                "something in the build depends on the time or the machine; the named file "
                "says what (report it if it is the kit's)",
            )
    say(f"check: reproducible, both builds gave {first.id}")
    return first


@contextlib.contextmanager
def from_empty_caches(
    settings: Settings, engine: Engine, like: builder.Image, *, keep_downloads: bool = False
) -> Iterator[str]:
    """Assemble `like` again with nothing cached but the base image; yield the new image's id.

    BuildKit runs the stages without its cache, uv downloads into a new volume, distributions
    install into a new tree cache; the image, its tags and the caches are removed afterwards.
    With `keep_downloads`, uv takes its downloads from the usual volume (each checked by its
    hash in the lock, so a download cannot change what is installed).
    Every name is this check's own: two clones of a project checking at once on one engine
    would otherwise remove each other's images mid-check.
    """
    found = like.base_image
    own = engines.own_name("check")
    tag = f"{settings.image}:{own}-{like.tag.rsplit(':', 1)[1]}"
    stages = [f"{settings.image}-build:{stage}-{own}" for stage in ("base", "export")]
    prefix = f"{builder.LABEL}."
    labels = {name.removeprefix(prefix): value for name, value in like.labels.items()}
    env = None
    with (
        tempfile.TemporaryDirectory(prefix="lockstep-check-") as cache,
        contextlib.nullcontext("")
        if keep_downloads
        else packages.fresh_uv_cache(engine) as uv_cache,
    ):
        try:
            env = environment.obtain(
                settings,
                engine,
                found.ref,
                found.id,
                cache=Path(cache),
                uv_cache=uv_cache,
                fresh=own,
            )
            yield builder.assemble(settings, engine, env, labels, [tag])
        finally:
            leftovers = [tag, *stages, *([env.tag] if env else [])]
            engine.run("image", "rm", *leftovers, capture=True, quiet=True, check=False)


def first_difference(engine: Engine, first: str, second: str) -> str:
    """Where two images first differ: a file in their first differing layer, or the config."""
    layers = [engine.inspect(image)["RootFS"]["Layers"] for image in (first, second)]
    shorter = min(map(len, layers))
    index = next((i for i in range(shorter) if layers[0][i] != layers[1][i]), shorter)
    if index == len(layers[0]) == len(layers[1]):
        return "their layers are identical; their configs differ (labels or settings)"
    if index == shorter:
        return f"one has {len(layers[0])} layers, the other {len(layers[1])}"
    with tempfile.TemporaryDirectory(prefix="lockstep-check-") as tmp:
        tars = [
            _saved_layer(engine, image, layers[n][index], Path(tmp) / f"{n}.tar")
            for n, image in enumerate((first, second))
        ]
        where = _first_member_difference(*tars)
    return f"layer {index + 1}{_made_by(engine, first, index)}: {where}"


def _made_by(engine: Engine, image: str, index: int) -> str:
    """What made an image's layer, as its history says (` (packages: numpy 2.4.6)`), or ""."""
    listed = engine.output("image", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image)
    # Newest first; the kit writes one history line per layer (`assembly.config`).
    lines = listed.splitlines()[::-1]
    return f" ({lines[index].strip()})" if len(lines) > index and lines[index].strip() else ""


def _saved_layer(engine: Engine, image: str, digest: str, dest: Path) -> Path:
    """Write the layer of `image` whose tar has `digest` to `dest`, from `docker save`."""

    def keep(stream) -> None:
        with tarfile.open(fileobj=stream, mode="r|") as saved:
            for member in saved:
                if not (member.isfile() and member.name.endswith("layer.tar")):
                    continue
                hasher = hashlib.sha256()
                with dest.open("wb") as out:
                    source = saved.extractfile(member)
                    while chunk := source.read(1 << 20):
                        hasher.update(chunk)
                        out.write(chunk)
                if f"sha256:{hasher.hexdigest()}" == digest:
                    return

    engine.read_from("save", image, consume=keep)
    return dest


def _first_member_difference(first: Path, second: Path) -> str:
    """The first file, in path order, that is not the same in two layer tars, and how."""
    described = [_members(path) for path in (first, second)]
    for name in sorted(set(described[0]) | set(described[1])):
        a, b = (members.get(name) for members in described)
        if a is None or b is None:
            return f"/{name} is only in the {'second' if a is None else 'first'} build"
        for field, (left, right) in zip(_FIELDS, zip(a, b, strict=True), strict=True):
            if left != right:
                return f"/{name} differs in its {field} ({left!r} and {right!r})"
    return "the same files, written differently (tar headers or order)"


_FIELDS = ("type", "mode", "owner", "modification time", "size", "link target", "content")


def _members(layer: Path) -> dict[str, tuple]:
    found = {}
    with tarfile.open(layer) as tar:
        for member in tar:
            data = tar.extractfile(member).read() if member.isfile() else b""
            found[member.name.removeprefix("./")] = (
                member.type,
                oct(member.mode),
                f"{member.uid}:{member.gid}",
                member.mtime,
                member.size,
                member.linkname,
                hashlib.sha256(data).hexdigest()[:16],
            )
    return found
