"""This repository's own task, `./inv wheel`: the kit's distribution, built reproducibly."""

from __future__ import annotations

from pathlib import Path

from invoke import task
from lockstep import shell, tools
from lockstep.errors import BuildError
from lockstep.shell import say
from lockstep.tasks import guard, root

KIT = "kit"
# The wheel's file dates (zip keeps no time zone, and poetry-core takes this variable): fixed, so
# two builds of one source give the same bytes, whoever builds them and whenever. 1980-01-01,
# the earliest date a zip file can hold.
EPOCH = "315532800"


def build_wheel(repo: Path, out: Path) -> Path:
    """Build the kit's wheel into `out` with the pinned Poetry; return its path.

    Raises:
        BuildError: the build failed, or made no wheel.
    """
    repo, out = repo.absolute(), out.absolute()  # Poetry takes a relative --directory oddly
    poetry = tools.ensure_poetry(repo)
    say(f"building the kit's wheel from {KIT}/ into {out}")
    before = set(out.glob("lockstep_kit-*.whl"))
    shell.run(
        [poetry, "build", "--format", "wheel", "--directory", repo / KIT, "--output", out],
        cwd=repo,
        env={"SOURCE_DATE_EPOCH": EPOCH},
    )
    version = shell.output([poetry, "version", "--short", "--directory", repo / KIT], cwd=repo)
    wheel = out / f"lockstep_kit-{version.strip()}-py3-none-any.whl"
    if not wheel.is_file():
        made = ", ".join(p.name for p in set(out.glob("lockstep_kit-*.whl")) - before) or "nothing"
        raise BuildError(f"poetry built {made}, not {wheel.name}", f"check {KIT}/pyproject.toml")
    return wheel


@task(help={"out": "the folder to write it to (default: dist/)"})
def wheel(c, out="dist"):
    """Build the kit's wheel: the same bytes on every machine and at every build."""
    here = root(c)
    built = guard(build_wheel, here, here / out)
    print(f"{built.relative_to(here) if built.is_relative_to(here) else built}")
    print(f"install it as a tool: uv tool install {built}   (or: pipx install {built})")
