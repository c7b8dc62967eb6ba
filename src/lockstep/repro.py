"""`invoke repro`: run `dvc repro` in the project's image and record lineage for what ran.

In a container by default (building the image first when its inputs changed); directly with
`local=True`, or when already inside a lockstep image (the devcontainer), where DVC is at hand.
The workspace lock is held from the build to the lineage write.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Sequence
from pathlib import Path

import yaml
from lockstep import engine as engines
from lockstep import fingerprint, git, images, lineage, shell, workspace
from lockstep.config import Settings
from lockstep.containers import Run
from lockstep.files import atomic_write

ENVIRONMENT_FILE = "environment.yaml"
ENVIRONMENT_HEADER = (
    "# Written by `invoke build`: the fingerprint of the locked environment the pipeline runs\n"
    "# in. Every stage depends on it, so a change of environment makes the results stale.\n"
)
# DVC 3 announces every stage it runs with this line.
RUNNING = re.compile(r"^Running stage '([^']+)'", re.MULTILINE)


def build(settings: Settings, target: str = "runtime", *, update_base: bool = False):
    """Build (or reuse) the image and record its fingerprint as the pipeline's dependency."""
    engine = engines.find(settings.docker_cli())
    image = images.build(settings, engine, target, update_base=update_base)
    if target == "runtime":
        write_environment(settings.root, image.fingerprint)
    return engine, image


def write_environment(root: Path, value: str) -> None:
    """Update environment.yaml only when the fingerprint changed, so DVC sees no change."""
    path = root / ENVIRONMENT_FILE
    current = yaml.safe_load(path.read_text()) if path.exists() else None
    if (current or {}).get("fingerprint") != value:
        atomic_write(path, (ENVIRONMENT_HEADER + f"fingerprint: {value}\n").encode())


def repro(settings: Settings, dvc_args: Sequence[str], *, local: bool = False) -> int:
    """Run the pipeline and update lineage for the stages that ran; return DVC's exit code."""
    with workspace.locked(settings.root, "invoke repro"):
        if local or fingerprint.inside_image():
            code, output, env = _run_here(settings, dvc_args)
        else:
            code, output, env = _run_in_container(settings, dvc_args)
        stages = ran_stages(output, succeeded=code == 0)
        if stages:
            lineage.update(settings.root, stages, env, lineage.read_dvc_lock(settings.root))
    return code


def ran_stages(output: str, *, succeeded: bool) -> list[str]:
    """Stages DVC ran to completion: all it announced, less the last one if the run failed."""
    started = list(dict.fromkeys(RUNNING.findall(output)))
    return started if succeeded else started[:-1]


def _run_in_container(settings: Settings, dvc_args: Sequence[str]):
    engine, image = build(settings)
    source = _source_state(settings)
    run = Run(settings, engine, image.id, ["dvc", "repro", *dvc_args])
    code = run.start()
    env = _environment(
        settings,
        **source,
        where="container",
        image_id=image.id,
        image_tag=image.tag,
        fingerprint=image.fingerprint,
        base_image=image.label("base"),
        dvc_version=image.label("dvc"),
        python_version=image.label("python"),
    )
    return code, run.output, env


def _run_here(settings: Settings, dvc_args: Sequence[str]):
    inside = fingerprint.inside_image()
    value = fingerprint.fingerprint(fingerprint.describe()) if inside else None
    if value:
        # As `invoke build` does for batch runs: the stages depend on the environment they run
        # in, so a devcontainer on a newer lock than environment.yaml must make them stale.
        write_environment(settings.root, value)
    source = _source_state(settings)
    proc = shell.run(["dvc", "repro", *dvc_args], cwd=settings.root, tee=True, check=False)
    env = _environment(
        settings,
        **source,
        where=fingerprint.where() if inside else "host",
        image_id=None,
        image_tag=None,
        fingerprint=value,
        base_image=None,
        dvc_version=shell.output(["dvc", "--version"], cwd=settings.root),
        python_version=platform.python_version(),
    )
    return proc.returncode, proc.stdout, env


def _source_state(settings: Settings) -> dict:
    """The commit and dirtiness of the inputs, taken before the run changes any output."""
    return {"commit": git.commit(settings.root), "dirty": git.is_dirty(settings.root)}


def _environment(settings: Settings, **fields) -> lineage.Environment:
    return lineage.Environment(
        registry_digest=None,
        registry_repository=None,
        lock_sha256=images.lock_hash(settings),
        **fields,
    )
