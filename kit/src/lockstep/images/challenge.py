"""`invoke challenge`: build the runtime image again where what should not matter differs.

The recorded image is the one the current locks give (`builder.build`). Each challenge build is
a child process (`python -m lockstep.images.challenge`) that assembles the image again from
empty caches (`reproducible.from_empty_caches`: BuildKit without its cache, new distribution
trees; uv's downloads are kept, each checked by its hash in the lock) under the conditions a set
of variations gives (`lockstep.images.variations`). The first build varies them all. The same
id passes. Another id is explained: a build with nothing varied (the control) that differs
too means the time or chance, which no rebuild holds still; else the variations responsible are
found by halves, and the first differing layer and file named (`reproducible.first_difference`).
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lockstep import config, engines, shell
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import BuildError, CommandError, LockstepError, NotReproducibleError
from lockstep.images import builder, reproducible, variations
from lockstep.images.assembly import LABEL
from lockstep.images.variations import Variation
from lockstep.shell import say

KIT = Path(__file__).resolve().parents[2]

Differs = Callable[[tuple[Variation, ...]], bool]


def challenge(settings: Settings, engine: Engine, names: str = "") -> tuple[str, tuple]:
    """Build the runtime image again under the variations `names` (all by default).

    Returns:
        The recorded image's id and the variations it survived.

    Raises:
        ConfigError: `names` holds an unknown variation, or one that needs root.
        NotReproducibleError: another id; the message says what caused it and where it shows.
    """
    chosen = variations.chosen(names)
    recorded = builder.build(settings, engine).id
    with _Builds(settings, engine, recorded, len(chosen)) as builds:
        if not builds.differs(chosen):
            return recorded, chosen
        if builds.differs(()):
            where = reproducible.first_difference(engine, recorded, builds.ids[frozenset()])
            raise NotReproducibleError(
                f"even built with nothing varied the runtime image is "
                f"{builds.ids[frozenset()][:19]}, not {recorded[:19]}: it depends on the time "
                f"or on chance, which no rebuild holds still: {where}",
                "date what that file holds from SOURCE_DATE_EPOCH (the kit passes it as a build "
                "argument) and fix any seed or order at random",
            )
        causes = responsible(chosen, builds.differs)
        image = builds.smallest_differing(causes)
        where = reproducible.first_difference(engine, recorded, image)
        named = " and ".join(f"{v.changes} ({v.name}: {v.how})" for v in causes)
        raise NotReproducibleError(
            f"the runtime image depends on {named}: built so it is {image[:19]}, not the "
            f"recorded {recorded[:19]}: {where}",
            f"{causes[0].remedy}, then `./inv challenge --vary "
            f"{','.join(v.name for v in causes)}` checks it again",
        )


def responsible(candidates: tuple[Variation, ...], differs: Differs) -> tuple[Variation, ...]:
    """The variations that make the image differ, found by halves.

    `differs(candidates)` holds and `differs(())` does not. Halves are tried alone; when
    neither differs alone, each is narrowed with the other applied (the cause takes one of
    each). The rest is tried once more without what was found: a second, independent cause.
    """
    order = {v.name: n for n, v in enumerate(candidates)}

    def union(*parts: tuple[Variation, ...]) -> tuple[Variation, ...]:
        merged = {v.name: v for part in parts for v in part}
        return tuple(sorted(merged.values(), key=lambda v: order[v.name]))

    def narrow(within: tuple[Variation, ...], applied: tuple[Variation, ...]) -> tuple:
        if len(within) == 1:
            return within
        left, right = within[: len(within) // 2], within[len(within) // 2 :]
        if differs(union(applied, left)):
            return narrow(left, applied)
        if differs(union(applied, right)):
            return narrow(right, applied)
        return union(narrow(left, union(applied, right)), narrow(right, union(applied, left)))

    found = narrow(candidates, ())
    rest = tuple(v for v in candidates if v not in found)
    if rest and differs(rest):
        found = union(found, responsible(rest, differs))
    return found


class _Builds:
    """The challenge's builds, each once (by the names it varies), and what they leave.

    Each build's folder (the copy, HOME, temporary files) and its image's tag are the
    challenge's own, removed when it ends, whichever way.
    """

    def __init__(self, settings: Settings, engine: Engine, recorded: str, count: int) -> None:
        self.settings, self.engine, self.recorded = settings, engine, recorded
        self.ids: dict[frozenset[str], str] = {}
        self.tags: list[str] = []
        # Until the first build differs, one is all there will be.
        self.count, self.expected = count, 1
        self.own = engines.own_name("challenge")
        self.folder = Path(tempfile.mkdtemp(prefix=f"lockstep-{self.own}-"))

    def __enter__(self) -> _Builds:
        return self

    def __exit__(self, *exc) -> None:
        if self.tags:
            self.engine.run("image", "rm", *self.tags, capture=True, quiet=True, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def differs(self, chosen: tuple[Variation, ...]) -> bool:
        """Whether the image built under `chosen` is not the recorded one."""
        key = frozenset(v.name for v in chosen)
        if key not in self.ids:
            self.ids[key] = self._build(chosen)
            if self.ids[key] != self.recorded and len(self.ids) == 1:
                # The control, halving (a build per level, two where the cause takes one of
                # each half), and one more for a second cause.
                self.expected = 3 + math.ceil(math.log2(max(self.count, 1)))
        return self.ids[key] != self.recorded

    def smallest_differing(self, causes: tuple[Variation, ...]) -> str:
        """The differing image built with the fewest variations, all of `causes` among them."""
        names = {v.name for v in causes}
        differing = [(len(k), i) for k, i in self.ids.items() if i != self.recorded and names <= k]
        return min(differing)[1]

    def _build(self, chosen: tuple[Variation, ...]) -> str:
        number = len(self.ids) + 1
        names = [v.name for v in chosen]
        what = f"varying {', '.join(names)}" if chosen else "nothing varied (the control)"
        say(f"challenge: build {number} of ~{max(number, self.expected)}: {what}")
        started = time.monotonic()
        folder = self.folder / str(number)
        (folder / "tmp").mkdir(parents=True)
        c = variations.conditions(chosen, folder)
        tag = f"{self.settings.image}:{self.own}-{number}"
        self.tags.append(tag)
        cmd = [*(["unshare", "--uts"] if c.hostname else []), sys.executable, "-m", __name__]
        cmd += [self.settings.root, folder, tag, ",".join(names)]
        # Its temporary files in its folder: removed with it, even if the child is killed.
        env = {**c.env, "PYTHONPATH": str(KIT), "TMPDIR": str(folder / "tmp")}
        try:
            shell.run(cmd, env=env)
        except CommandError as exc:
            lines = [line for line in exc.log.splitlines() if line.strip()]
            said = lines[-1].removeprefix("error: ") if lines else exc.message
            raise BuildError(
                f"the challenge's build {number} ({what}) failed: {said}", exc.hint
            ) from None
        built = (folder / "id").read_text().strip()
        verdict = "the recorded id" if built == self.recorded else f"another id, {built[:19]}"
        say(f"challenge: build {number}: {verdict} ({time.monotonic() - started:.0f} s)")
        return built


def rebuild(root: Path, folder: Path, tag: str, names: str) -> str:
    """The child's part: enter the conditions, build from empty caches, keep the image as `tag`.

    Writes the new id to `folder`/id too, and returns it.
    """
    c = variations.conditions(variations.chosen(names) if names else (), folder)
    variations.enter(c)
    settings = config.load(root)
    inputs = [*builder.input_files(settings, "runtime"), settings.path(settings.base.manifest)]
    settings = config.load(checkout(root, c, folder, inputs))
    engine = engines.find(settings.docker_cli())
    found = builder.resolve_base(settings, engine)
    key = builder.content_key(settings, "runtime", found.id)
    labels = {f"{LABEL}.{k}": v for k, v in builder.own_labels(settings, found).items()}
    tag_like = f"{builder.repository(settings, 'runtime')}:{key[:12]}"
    like = builder.Image("", tag_like, "", labels, base_image=found)
    with reproducible.from_empty_caches(settings, engine, like, keep_downloads=True) as built:
        engine.run("tag", built, tag, capture=True, quiet=True)
    (folder / "id").write_text(built)
    return built


def checkout(root: Path, c: variations.Conditions, folder: Path, inputs: list[Path]) -> Path:
    """The tree to build from: the workspace, or a fresh clone of its HEAD as `c` asks.

    The clone takes the workspace's own version of each of `inputs` (the files the image's key
    covers), so that it builds what the recorded image was built from even before a commit.
    """
    if not c.copy:
        return root
    dest = folder / c.copy / root.name
    staging = folder / "clone" if c.reverse else dest
    staging.parent.mkdir(parents=True, exist_ok=True)
    shell.run(["git", "clone", "--quiet", root, staging], capture=True)
    for path in inputs:
        if path.is_relative_to(root):
            copy = staging / path.relative_to(root)
            if not copy.is_file() or copy.read_bytes() != path.read_bytes():
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(path.read_bytes())  # a new file gets the umask's mode
    if c.reverse:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _move_reversed(staging, dest)
    return dest


def _move_reversed(source: Path, dest: Path) -> None:
    """Move a tree's entries into a new folder, each folder's entries in reverse order."""
    dest.mkdir()
    shutil.copymode(source, dest)
    for name in sorted(os.listdir(source), reverse=True):
        entry = source / name
        if entry.is_dir() and not entry.is_symlink():
            _move_reversed(entry, dest / name)
        else:
            os.rename(entry, dest / name)


if __name__ == "__main__":
    try:
        rebuild(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4])
    except LockstepError as error:  # one line, which the challenge repeats
        print(f"error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
