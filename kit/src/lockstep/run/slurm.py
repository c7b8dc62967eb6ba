"""Slurm as the kit uses it: a container run as a batch job, followed to its end, cancelled.

Through Slurm's own client commands (sbatch, squeue, scontrol, sacct, scancel), not a Python
library. pyslurm binds libslurm and must be built for the cluster's very major release (22.05,
23.02, ...), which a project's lock cannot know; simple-slurm only writes sbatch lines, and
submitit runs pickled Python functions on the nodes, not an image. The commands are on every
machine of a cluster and their `--parsable`, `--format` and `--oneliner` output has kept its
shape for many releases, where `--json` changed its schema in each (22.05's exit_code is a
number, later ones a table) and needs a plugin some sites leave out.

The job runs as the user who submits it (Slurm's rule) and starts the container as that user's
uid, as local runs do; the container is removed however the job ends, since Slurm knows only
the processes of the job, and a container is a child of the Docker engine.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lockstep import shell
from lockstep.config import ExecutorSettings
from lockstep.errors import CommandError, SlurmError
from lockstep.run.containers import Run

# The states a job leaves no more (squeue(1), JOB STATE CODES).
ENDED = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "REVOKED",
        "SPECIAL_EXIT",
        "TIMEOUT",
    }
)
UNREACHABLE = "Unable to contact slurm controller"
SUBMIT_HINT = "check [tool.lockstep.executor] against the cluster: sinfo lists its partitions"
REACH_HINT = (
    "check that slurmctld runs (scontrol ping) and that slurm.conf, or SLURM_CONF, names it; "
    "nothing in the workspace changed"
)
# How a job can end that the user can act on; the other ends are the cluster's doing.
ENDINGS = {
    "CANCELLED": ("was cancelled (scancel, an administrator, a preemption)", "run again"),
    "TIMEOUT": ("reached its time limit", "raise time in [tool.lockstep.executor], run again"),
    "OUT_OF_MEMORY": ("ran out of memory", "raise memory in [tool.lockstep.executor], run again"),
}
UNKNOWN_JOB = "Invalid job id specified"


@dataclass
class Job:
    """A submitted job and what Slurm last said of it."""

    id: str
    name: str
    output: Path  # the job's stdout and stderr: the container's output
    state: str = ""  # none yet: the first look is reported
    node: str = ""
    reason: str = ""
    exit_code: int = 0
    signal: int = 0

    @property
    def ended(self) -> bool:
        """True once the job is over, however it went."""
        return self.state in ENDED

    def describe(self) -> str:
        """The job's state as progress: `job 12 (rerun-v3): RUNNING on node1`."""
        where = f" on {self.node}" if self.node else ""
        why = f" ({self.reason})" if self.reason and self.state == "PENDING" else ""
        return f"Slurm job {self.id} ({self.name}): {self.state}{where}{why}"

    def check(self) -> Job:
        """Self when the job completed; otherwise one line on how it ended and what to do.

        Raises:
            SlurmError: it failed, was cancelled, ran out of time or memory, or lost its node.
        """
        if self.state == "COMPLETED":
            return self
        if self.state == "FAILED":
            how = f"signal {self.signal}" if self.signal else f"exit code {self.exit_code}"
            raise SlurmError(
                f"Slurm job {self.id} ({self.name}) failed on {self.node or 'its node'}: {how}",
                f"see its output in {self.output}",
            )
        what, remedy = ENDINGS.get(
            self.state, (f"ended {self.state}", "run again; if it recurs, ask the cluster's admins")
        )
        where = f" on {self.node}" if self.node else ""
        raise SlurmError(
            f"Slurm job {self.id} ({self.name}){where} {what}",
            f"{remedy} (its output so far: {self.output})",
        )


def script(run: Run) -> str:
    """A batch script that runs `run`'s container and removes it however the job ends.

    Slurm signals the job's own processes (scancel, a time limit), the docker CLI among them,
    not the container: the trap removes it. The script's exit code is the command's.
    """
    docker = shlex.quote(run.engine.cli)
    name = shlex.quote(run.name)
    command = shlex.join([run.engine.cli, *run.arguments()])
    return (
        "#!/bin/sh\n"
        f"trap '{docker} rm --force {name} >/dev/null 2>&1; exit 143' TERM INT HUP\n"
        # In the background, so that the shell takes a signal at once, not when docker ends.
        f"{command} &\n"
        'wait "$!"\n'
    )


def options(executor: ExecutorSettings) -> list[str]:
    """The sbatch options for what each job asks for; unset ones are the cluster's defaults."""
    asked = {
        "partition": executor.partition,
        "time": executor.time,
        "cpus-per-task": executor.cpus,
        "mem": executor.memory,
    }
    return [f"--{option}={value}" for option, value in asked.items() if value]


def submit(text: str, name: str, folder: Path, executor: ExecutorSettings) -> Job:
    """Submit a batch script; its file and its output go to `folder`, which nodes must see.

    Raises:
        SlurmError: the controller is unreachable, or sbatch refused the job.
    """
    # %j: the output's name holds the job id, which only sbatch knows.
    job_id = _sbatch(text, name, folder, executor, f"--output={folder}/{name}-%j.log")
    return Job(job_id, name, folder / f"{name}-{job_id}.log")


def submit_array(
    texts: Sequence[str], name: str, folder: Path, executor: ExecutorSettings
) -> list[Job]:
    """Submit scripts as one job array, task i running `texts[i]`; a Job per task.

    One submission, however many tasks: the scheduler sees them as one job, which site limits
    (MaxArraySize, MaxSubmitJobs) and `scancel ID` treat as such.

    Raises:
        SlurmError: the controller is unreachable, or sbatch refused the array.
    """
    folder.mkdir(parents=True, exist_ok=True)
    cases = ""
    for index, text in enumerate(texts):
        task = folder / f"{name}-{index}.sh"
        task.write_text(text)
        cases += f"{index}) exec sh {shlex.quote(str(task))} ;;\n"
    dispatch = f'#!/bin/sh\ncase "$SLURM_ARRAY_TASK_ID" in\n{cases}esac\nexit 2\n'
    array = [f"--array=0-{len(texts) - 1}", f"--output={folder}/{name}-%A_%a.log"]
    array_id = _sbatch(dispatch, name, folder, executor, *array)
    return [
        Job(f"{array_id}_{index}", name, folder / f"{name}-{array_id}_{index}.log")
        for index in range(len(texts))
    ]


def _sbatch(text: str, name: str, folder: Path, executor: ExecutorSettings, *output: str) -> str:
    """Write the script `folder/NAME.sh`, submit it, and return the job id sbatch gives."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.sh"
    path.write_text(text)
    command = ["sbatch", "--parsable", f"--job-name={name}", *output]
    printed = _slurm([*command, *options(executor), path], quiet=False, hint=SUBMIT_HINT)
    return printed.split(";")[0]  # `ID;CLUSTER` on a federation


def wait(jobs: Sequence[Job], interval: float = 2.0) -> Sequence[Job]:
    """Follow jobs until every one has ended, saying each change; Ctrl-C cancels them.

    Returns the jobs, updated: `Job.check` says how each ended.

    Raises:
        SlurmError: the controller cannot be reached (the jobs go on; `scancel` stops them).
    """
    try:
        while True:
            for job in refresh(jobs):
                shell.say(job.describe())
            if all(job.ended for job in jobs):
                return jobs
            time.sleep(interval)
    except KeyboardInterrupt:
        cancel(jobs)
        raise


def refresh(jobs: Sequence[Job]) -> list[Job]:
    """Update jobs that have not ended from Slurm; the ones whose state changed."""
    running = [job for job in jobs if not job.ended]
    if not running:
        return []
    # One request for all, however many jobs: a controller is shared, and polled by many.
    ids = ",".join(job.id for job in running)
    # --array: a line per task of an array, pending ones too (not one `12_[0-3]` line).
    query = ["squeue", f"--jobs={ids}", "--array", "--states=all", "--noheader"]
    query.append("--format=%i|%T|%N|%r")
    # squeue lists the jobs it knows, and fails when it knows none of them.
    listed = _slurm(query, unknown="")
    found = {line.split("|")[0]: line.split("|") for line in listed.splitlines() if line}
    changed = []
    for job in running:
        before = (job.state, job.node)
        if job.id not in found:
            _accounted(job)  # the controller forgot it: it ended a while ago
        else:
            _, job.state, job.node, job.reason = found[job.id]
            if job.ended:
                _exit_code(job)  # squeue does not print one
        if (job.state, job.node) != before:
            changed.append(job)
    return changed


def cancel(jobs: Sequence[Job]) -> None:
    """Cancel the jobs that have not ended; their scripts remove their containers."""
    if running := [job.id for job in jobs if not job.ended]:
        _slurm(["scancel", *running], quiet=False)


def _exit_code(job: Job) -> None:
    shown = _slurm(["scontrol", "show", "job", "--oneliner", job.id])
    if found := re.search(r"(?:^| )ExitCode=(\d+):(\d+)", shown):
        job.exit_code, job.signal = int(found[1]), int(found[2])


def _accounted(job: Job) -> None:
    """Read a job's end from Slurm's accounting, for a job the controller no longer holds."""
    fields = "--format=JobID,State,ExitCode,NodeList"
    command = ["sacct", f"--jobs={job.id}", "--allocations", "--noheader", "--parsable2", fields]
    try:
        line = _slurm(command).splitlines()[0]
    except (SlurmError, IndexError):
        raise SlurmError(
            f"Slurm job {job.id} ({job.name}) is known neither to the controller nor to "
            "accounting (sacct)",
            f"see its output in {job.output}; a cluster without slurmdbd forgets ended jobs "
            "after MinJobAge (slurm.conf)",
        ) from None
    _, state, code, job.node = line.split("|")
    job.state = state.split()[0]  # `CANCELLED by 1000`
    job.exit_code, job.signal = (int(part) for part in code.split(":"))


def _slurm(command: list, *, quiet: bool = True, hint: str = "", unknown: str | None = None) -> str:
    """A Slurm client command's output; its failure as one line.

    Args:
        command: the command.
        quiet: do not echo it (polling).
        hint: what to do when the command refuses (rather than cannot reach the controller).
        unknown: the output to take when Slurm knows none of the jobs asked about.
    """
    try:
        proc = shell.run(command, capture=True, check=False, quiet=quiet)
    except CommandError:
        raise SlurmError(
            f"no Slurm client here: {command[0]} not found",
            "run on a machine of the cluster (a login node), or install slurm-client",
        ) from None
    if proc.returncode == 0:
        return proc.stdout.strip()
    lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
    last = re.sub(r"^\S+: error: ", "", lines[-1])  # `sbatch: error: ...`
    if UNREACHABLE in last:
        raise SlurmError(f"cannot reach the Slurm controller: {last}", REACH_HINT)
    if UNKNOWN_JOB in last and unknown is not None:
        return unknown
    raise SlurmError(f"{command[0]} failed: {last}", hint or REACH_HINT)
