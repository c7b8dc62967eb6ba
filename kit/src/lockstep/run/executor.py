"""Where a batch of container runs goes: this machine's engine, one after another, or Slurm.

`[tool.lockstep.executor]` chooses (`kind`), and a task's `--on` overrides it. On Slurm each
run is a job (`lockstep.run.slurm`), all submitted at once, so they run side by side on whatever
nodes the cluster gives; as a job array when they are points of one sweep. A run's trees and
the jobs' scripts must be on a filesystem every node sees: the project's own folder.

Each run's command is followed, in its container, by the machine probe, whose facts (CPU, BLAS
kernels, thread counts) go to a file in the run's tree: a run records the machine it ran on,
which on a cluster is a node, not the one that submitted it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lockstep import paths
from lockstep.config import EXECUTORS, Settings
from lockstep.errors import ConfigError, LockstepError
from lockstep.run import slurm
from lockstep.run.containers import Run
from lockstep.runtime import machine

LOCAL, SLURM = "local", "slurm"
# In the run's tree: DVC's own scratch folder, ignored by git and DVC alike.
PROBE = ".dvc/tmp/lockstep-machine.py"
FACTS = ".dvc/tmp/lockstep-machine.json"


@dataclass
class Ended:
    """How one run ended: its machine's facts, or why it failed; the job that ran it."""

    name: str
    tree: Path
    error: str = ""  # one line; "" when the command succeeded
    facts: dict | None = None
    job: dict | None = None  # {"scheduler": "slurm", "id": ..., "node": ...}

    def where(self) -> str:
        """`Slurm job 12 on node1`, or `here` for a local run."""
        return f"Slurm job {self.job['id']} on {self.job['node']}" if self.job else "here"


def kind(settings: Settings, on: str = "") -> str:
    """The executor a task uses: `on` when given, else the project's setting.

    Raises:
        ConfigError: `on` names no executor.
    """
    if on and on not in EXECUTORS:
        raise ConfigError(f"--on {on!r} is not an executor", f"use {' or '.join(EXECUTORS)}")
    return on or settings.executor.kind


def folder(settings: Settings, on: str) -> Path | None:
    """Where the runs' trees go: in the project for Slurm (nodes must see them), else /tmp."""
    return settings.path(paths.SLURM) if on == SLURM else None


def run_all(
    settings: Settings, runs: Mapping[str, Run], on: str, *, array: str = ""
) -> list[Ended]:
    """Run each container, the command then the machine probe; how each ended, in order.

    Args:
        settings: the project's settings (the Slurm options).
        runs: the runs by name; each mounts its own tree (`run.settings.root`).
        on: LOCAL or SLURM.
        array: on Slurm, submit the runs as one job array of this name.

    Raises:
        SlurmError: the controller cannot be reached (nothing was submitted, or the jobs go on).
        KeyboardInterrupt: Ctrl-C; local containers are removed, Slurm jobs cancelled.
    """
    probed = {name: _probed(run) for name, run in runs.items()}
    if on == LOCAL:
        return [_ended(name, run, run.start()) for name, run in probed.items()]
    where, asked = settings.path(paths.SLURM), settings.executor
    scripts = {
        _job_name(name): slurm.script(run.with_limits(asked.cpus, asked.memory))
        for name, run in probed.items()
    }
    if array:
        jobs = slurm.submit_array(list(scripts.values()), _job_name(array), where, asked)
    else:
        jobs = [slurm.submit(text, name, where, asked) for name, text in scripts.items()]
    slurm.wait(jobs)
    ended = []
    for (name, run), job in zip(probed.items(), jobs, strict=True):
        try:
            job.check()
            found = _ended(name, run, 0)
        except LockstepError as exc:
            found = _ended(name, run, 1, str(exc))
        found.job = {"scheduler": SLURM, "id": job.id, "node": job.node}
        ended.append(found)
    return ended


def _probed(run: Run) -> Run:
    """`run` whose command, once it succeeds, writes the machine's facts in its tree."""
    probe = run.settings.root / PROBE
    probe.parent.mkdir(parents=True, exist_ok=True)
    probe.write_text(machine.command()[-1])  # the probe's source, which any image can run
    script = f'"$@" && python {PROBE} > {FACTS}'
    return run.with_command("sh", "-c", script, "sh", *run.command)


def _ended(name: str, run: Run, code: int, error: str = "") -> Ended:
    tree = run.settings.root
    if code and not error:
        error = f"{name}: the command failed (exit code {code}); see its output above"
    facts_file = tree / FACTS
    facts = json.loads(facts_file.read_text()) if not error and facts_file.exists() else None
    return Ended(name, tree, error, facts)


def _job_name(name: str) -> str:
    """A name for Slurm and for a file: `rerun model/v1` as `rerun-model-v1`."""
    return re.sub(r"[^\w.-]+", "-", name)
