"""`invoke challenge`: the example's image survives every variation; a Dockerfile step that
depends on one fails it, named with the layer and file, and a step that writes the date fails
the control build too.

The failing projects have an empty lock: each challenge build then takes seconds (the example's
installs some 80 distributions from empty caches, a minute), and their steps are what differs.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from lockstep import config, shell, tools
from lockstep.images import variations

from tests.support import commands, projects

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("test_challenge")]


def test_the_example_image_survives_every_variation(kit, project, runtime_image) -> None:
    done = kit.invoke(project, "challenge", env={shell.VERBOSE_VARIABLE: ""})
    names = [v.name for v in variations.default()]
    assert done.stdout.strip().splitlines()[-1] == (
        f"challenge: reproducible: {runtime_image.id} again under {len(names)} variations: "
        + ", ".join(names)
    )
    assert "challenge: build 1 of ~1: varying " + ", ".join(names) in done.stderr
    assert "challenge: build 2" not in done.stderr  # one build: the control is for a difference


@pytest.fixture
def stepped(kit):
    """A copy of the example with an empty lock, an image name of its own and `step` in its
    Dockerfile's base stage (which the runtime image holds); its images are removed after."""
    made = []

    def make(name: str, step: str, files: dict[str, str] | None = None) -> Path:
        root = kit.copy(name)
        image = f"lockstep-challenged-{uuid.uuid4().hex[:8]}"
        projects.set_image(root, image)
        pyproject = root / "pyproject.toml"
        text = re.sub(
            r"(?ms)^dependencies = \[.*?^\]\n", "dependencies = []\n", pyproject.read_text()
        )
        text = re.sub(
            r"(?ms)^(\[tool\.poetry\.group\.dev\.dependencies\]\n).*?(?=^\[)", r"\1\n", text
        )
        pyproject.write_text(text)
        commands.run([tools.ensure_poetry(root), "lock", "--quiet"], root)
        for path, content in (files or {}).items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(content)
            with (root / ".dockerignore").open("a") as ignore:
                ignore.write(f"!{path}\n")
        dockerfile = root / "docker" / "Dockerfile"
        marker = "WORKDIR /workspace\n"
        dockerfile.write_text(dockerfile.read_text().replace(marker, f"{step}\n{marker}", 1))
        commands.commit_all(root, f"a step that may depend on the conditions: {step}")
        made.append(image)
        return root

    yield make
    for image in made:
        for repository in (image, f"{image}-build"):
            listed = kit.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repository)
            kit.remove_images(*listed.stdout.split())


def own_leftovers(kit, root: Path, scratch: Path) -> list[str]:
    """The challenge's own images and folders still there (its builds' tags, their stages)."""
    image = config.load(root).image
    listed = kit.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    # Their tags hold the name of the challenge's or of its builds' own (`engines.own_name`).
    own = re.compile(r":.*\b(challenge|check)-[0-9a-f]{12}\b")
    tags = [tag for tag in listed if tag.startswith(image) and own.search(tag)]
    return tags + [str(path) for path in scratch.iterdir()]


def challenged(kit, root: Path, scratch: Path, vary: str):
    """`invoke challenge --vary VARY`, its temporary folders in `scratch` (no other's there)."""
    scratch.mkdir()
    env = {shell.VERBOSE_VARIABLE: "", "TMPDIR": str(scratch)}
    return kit.invoke(root, "challenge", "--vary", vary, check=False, env=env)


def test_a_file_whose_mode_follows_the_umask_fails_naming_the_umask_and_the_file(
    kit, stepped, tmp_path
) -> None:
    root = stepped(
        "umask-step",
        "COPY docker/challenge/motd /etc/motd",
        {"docker/challenge/motd": "welcome\n"},
    )
    # The umask alone: the search by halves is the unit tests' (each cause of nine, found).
    failed = challenged(kit, root, tmp_path / "scratch", "umask")
    assert failed.returncode == 1, failed.stderr
    error = failed.stderr.strip().splitlines()[-1]
    assert error.startswith("error: the runtime image depends on the umask (umask: 077"), error
    # The base's layers, then the stage's: its first (useradd), then the COPY.
    assert re.search(
        r": layer \d+ \(docker/Dockerfile stage base, layer 2\): /etc/motd differs in its mode "
        r"\('0o644' and '0o600'\); give the file its mode explicitly",
        error,
    ), error
    assert error.endswith("then `./inv challenge --vary umask` checks it again"), error
    # The umask, then nothing (the control): the recorded id, so the umask it is.
    assert "challenge: build 1 of ~1: varying umask" in failed.stderr, failed.stderr
    assert "nothing varied (the control)" in failed.stderr, failed.stderr
    assert "challenge: build 3" not in failed.stderr  # one variation: nothing to narrow
    assert own_leftovers(kit, root, tmp_path / "scratch") == []


def test_a_step_that_writes_the_date_fails_the_control_build_too(kit, stepped, tmp_path) -> None:
    root = stepped("date-step", "RUN date --iso-8601=ns > /etc/built")
    failed = challenged(kit, root, tmp_path / "scratch", "tz")
    assert failed.returncode == 1, failed.stderr
    error = failed.stderr.strip().splitlines()[-1]
    assert error.startswith("error: even built with nothing varied the runtime image is "), error
    assert re.search(
        r"it depends on the time or on chance, which no rebuild holds still: layer \d+ "
        r"\(docker/Dockerfile stage base, layer 2\): /etc/built differs in its content",
        error,
    ), error
    assert "challenge: build 3" not in failed.stderr  # nothing left to narrow down
    assert own_leftovers(kit, root, tmp_path / "scratch") == []
