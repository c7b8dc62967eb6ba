"""The last runtime build's answer, kept so that a no-op `./inv build` costs what `make` does.

A build with unchanged inputs is asked for often: by hand, by editors, before every run. Finding
that out the long way (the engine probed, the base and the image inspected, every layer's label
read) takes half a second, and importing invoke alone 0.15 s. So each runtime build records here
every file it read or wrote with its sha256, the variables that choose the engine, the git state
its commit tag names, and what it answered. A later build whose files, variables and git state
are the same, and whose engine still holds the images under the same tags (one `docker image
inspect`), answers the same without anything else: `toolchain.py` asks before starting invoke,
and `pipeline.repro` before it decides whether a container must start at all.

Standard library only: `./inv` runs it with the system Python, before invoke is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import NamedTuple

from lockstep import git, paths, shell
from lockstep.errors import LockstepError
from lockstep.files import atomic_write

# Bump when what is recorded changes: an older record is then simply not an answer.
VERSION = 1
# Besides the files, what chooses the engine a build talks to: another value, another build.
VARIABLES = ("LOCKSTEP_DOCKER", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG")


# A NamedTuple, not a dataclass: importing dataclasses costs a tenth of the no-op's budget.
class Build(NamedTuple):
    """What a runtime build answered: the image, its tags, and what it holds."""

    cli: str  # the docker CLI the build used
    tag: str
    commit_tag: str
    id: str
    fingerprint: str
    dvc: str  # the DVC version installed in the image
    base: str  # the base image's reference, whose id `held` names as well
    base_id: str

    def up_to_date(self) -> str:
        """The step line of an answer from the record (`./inv build`, a no-op `./inv repro`)."""
        return f"{self.tag} is up to date ({self.id[:19]}, as the last build recorded)"


def summary(tag: str, commit_tag: str, image_id: str, fingerprint: str) -> str:
    """What `./inv build` prints on stdout for an image, the long way or from the record."""
    return f"{tag}  {commit_tag}  {image_id}\nfingerprint {fingerprint}"


def record(root: Path, build: Build, inputs: list[str]) -> None:
    """Keep `build` as the answer while the files `inputs` (relative to root) stay as they are."""
    state = {
        "version": VERSION,
        "build": build._asdict(),
        "inputs": _digests(root, inputs),
        "variables": _variables(),
        "git": list(git.state(root)),
    }
    atomic_write(root / paths.BUILD_RECORD, json.dumps(state, indent=1, sort_keys=True).encode())


def answer(root: Path) -> Build | None:
    """The recorded build, when nothing it depends on changed and the engine still holds it."""
    try:
        state = json.loads((root / paths.BUILD_RECORD).read_text())
        build = Build(**state["build"])
        unchanged = (
            state["version"] == VERSION
            and state["variables"] == _variables()
            and state["inputs"] == _digests(root, list(state["inputs"]))
            and state["git"] == list(git.state(root))
        )
        return build if unchanged and _held(build) else None
    except (OSError, ValueError, KeyError, TypeError, LockstepError):
        return None  # no record, an older or damaged one, no git, no engine: the long way says


def _held(build: Build) -> bool:
    """Whether the engine holds the image under both tags, and the base, with the same ids."""
    wanted = {build.tag: build.id, build.commit_tag: build.id, build.base: build.base_id}
    proc = shell.run(
        [build.cli, "image", "inspect", "--format", "{{.Id}}", *wanted],
        capture=True,
        quiet=True,
        check=False,
    )
    return proc.returncode == 0 and proc.stdout.split() == list(wanted.values())


def _digests(root: Path, inputs: list[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in inputs:
        path = root / name
        found[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    return found


def _variables() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in VARIABLES}
