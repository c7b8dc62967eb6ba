"""`lockstep.run.slurm` without a cluster: sbatch options, how jobs end, the job script, errors.

Fake Slurm commands and a fake docker CLI stand in; tests/integration has the real cluster.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from lockstep.config import ExecutorSettings, Settings
from lockstep.engines import Engine
from lockstep.errors import SlurmError
from lockstep.run import slurm
from lockstep.run.containers import Run


def fake(folder: Path, name: str, body: str) -> Path:
    """An executable shell script called `name` in `folder`."""
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def slurm_bin(tmp_path, monkeypatch) -> Path:
    """A folder first on PATH, for fake Slurm commands."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    return folder


def test_options_ask_only_for_what_is_set() -> None:
    assert slurm.options(ExecutorSettings("slurm")) == []
    asked = ExecutorSettings("slurm", partition="cpu", time="2:00:00", cpus=4, memory="16G")
    assert slurm.options(asked) == [
        "--partition=cpu",
        "--time=2:00:00",
        "--cpus-per-task=4",
        "--mem=16G",
    ]


@pytest.mark.parametrize(
    ("state", "code", "sig", "message"),
    [
        ("FAILED", 3, 0, "Slurm job 7 (rerun) failed on n1: exit code 3; see its output in"),
        ("FAILED", 0, 9, "Slurm job 7 (rerun) failed on n1: signal 9; see its output in"),
        ("CANCELLED", 0, 15, "Slurm job 7 (rerun) on n1 was cancelled (scancel, an admin"),
        ("TIMEOUT", 0, 0, "on n1 reached its time limit; raise time in [tool.lockstep.executor]"),
        ("OUT_OF_MEMORY", 0, 0, "ran out of memory; raise memory in [tool.lockstep.executor]"),
        ("NODE_FAIL", 0, 0, "on n1 ended NODE_FAIL; run again; if it recurs, ask the cluster's"),
    ],
)
def test_a_job_that_did_not_complete_is_one_line_with_a_remedy(state, code, sig, message):
    job = slurm.Job("7", "rerun", Path("/ws/jobs/rerun-7.log"), state, "n1", "", code, sig)
    assert job.ended
    with pytest.raises(SlurmError) as caught:
        job.check()
    assert message in str(caught.value)
    assert "/ws/jobs/rerun-7.log" in str(caught.value) and "\n" not in str(caught.value)


def test_a_completed_job_passes_its_check() -> None:
    job = slurm.Job("7", "rerun", Path("out.log"), "COMPLETED", "n1")
    assert job.check() is job
    assert job.describe() == "Slurm job 7 (rerun): COMPLETED on n1"
    waiting = slurm.Job("8", "rerun", Path("out.log"), "PENDING", reason="Resources")
    assert not waiting.ended
    assert waiting.describe() == "Slurm job 8 (rerun): PENDING (Resources)"


def test_submit_writes_the_script_beside_its_output_and_reads_the_job_id(slurm_bin, tmp_path):
    fake(slurm_bin, "sbatch", 'echo "$@" > "$(dirname "$0")/args"; echo "42;cluster"')
    job = slurm.submit("#!/bin/sh\ntrue\n", "sweep", tmp_path / "jobs", ExecutorSettings("slurm"))
    assert (job.id, job.output) == ("42", tmp_path / "jobs" / "sweep-42.log")
    assert (tmp_path / "jobs" / "sweep.sh").read_text() == "#!/bin/sh\ntrue\n"
    args = (slurm_bin / "args").read_text().split()
    assert args[-1] == str(tmp_path / "jobs" / "sweep.sh")


def test_refresh_reads_states_and_the_exit_code_of_an_ended_job(slurm_bin, tmp_path):
    fake(slurm_bin, "squeue", "echo '5|RUNNING|n1|None'; echo '6|FAILED|n2|NonZeroExitCode'")
    fake(slurm_bin, "scontrol", "echo 'JobId=6 JobState=FAILED ExitCode=2:0 NodeList=n2'")
    jobs = [slurm.Job(i, "j", tmp_path / "log") for i in ("5", "6")]
    assert slurm.refresh(jobs) == jobs
    assert [(j.state, j.node, j.exit_code) for j in jobs] == [
        ("RUNNING", "n1", 0),
        ("FAILED", "n2", 2),
    ]
    assert slurm.refresh(jobs) == []  # nothing changed


def test_a_job_the_controller_forgot_is_read_from_accounting(slurm_bin, tmp_path):
    fake(slurm_bin, "squeue", "echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1")
    fake(slurm_bin, "sacct", "echo '9|CANCELLED by 1000|0:15|n3'")
    (job,) = slurm.refresh([slurm.Job("9", "j", tmp_path / "log")])
    assert (job.state, job.node, job.signal) == ("CANCELLED", "n3", 15)


@pytest.mark.parametrize(
    ("stderr", "message"),
    [
        (
            "sbatch: error: Batch job submission failed: Unable to contact slurm controller "
            "(connect failure)",
            "cannot reach the Slurm controller: Batch job submission failed: Unable to contact",
        ),
        (
            "sbatch: error: Batch job submission failed: Invalid partition name specified",
            "sbatch failed: Batch job submission failed: Invalid partition name specified; "
            "check [tool.lockstep.executor] against the cluster",
        ),
    ],
)
def test_a_refused_submission_is_one_line(slurm_bin, tmp_path, stderr, message):
    fake(slurm_bin, "sbatch", f"echo '{stderr}' >&2; exit 1")
    with pytest.raises(SlurmError) as caught:
        slurm.submit("#!/bin/sh\n", "j", tmp_path, ExecutorSettings("slurm"))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_no_slurm_client_says_where_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SlurmError, match="no Slurm client here: sbatch not found; run on a"):
        slurm.submit("#!/bin/sh\n", "j", tmp_path, ExecutorSettings("slurm"))


def test_the_script_removes_its_container_when_the_job_is_stopped(tmp_path):
    # A docker CLI that records its arguments; `run` lasts until the container is removed.
    calls = tmp_path / "calls"
    until_removed = f"until grep -q '^rm' {calls}; do sleep 0.05; done"
    docker = fake(tmp_path, "docker", f'echo "$@" >> {calls}; [ "$1" = rm ] || {until_removed}')
    run = Run(Settings(root=tmp_path, image="x"), Engine(str(docker)), "sha256:abc", ["true"])
    script = fake(tmp_path, "job.sh", slurm.script(run).removeprefix("#!/bin/sh\n"))
    job = subprocess.Popen([script])
    deadline = time.monotonic() + 30
    while not calls.exists():
        assert time.monotonic() < deadline, "the job script did not start its container in 30 s"
        time.sleep(0.05)

    job.send_signal(signal.SIGTERM)  # as scancel or a time limit does

    assert job.wait(10) == 143
    started, removed = calls.read_text().splitlines()
    assert started.startswith(f"run --rm --init --name {run.name} ")
    assert started.endswith(" sha256:abc true")
    assert removed == f"rm --force {run.name}"


def test_an_array_runs_task_i_script_i_and_names_each_task(slurm_bin, tmp_path):
    fake(slurm_bin, "sbatch", 'echo "$@" > "$(dirname "$0")/args"; echo 50')
    folder = tmp_path / "jobs"
    texts = ["#!/bin/sh\necho zero\n", "#!/bin/sh\necho one\n"]
    jobs = slurm.submit_array(texts, "grid", folder, ExecutorSettings("slurm", cpus=2))
    assert [(job.id, job.output.name) for job in jobs] == [
        ("50_0", "grid-50_0.log"),
        ("50_1", "grid-50_1.log"),
    ]
    args = (slurm_bin / "args").read_text().split()
    assert "--array=0-1" in args and f"--output={folder}/grid-%A_%a.log" in args
    assert "--cpus-per-task=2" in args
    for task, said in ((0, "zero"), (1, "one")):
        ran = subprocess.run(
            ["sh", folder / "grid.sh"],
            env={**os.environ, "SLURM_ARRAY_TASK_ID": str(task)},
            capture_output=True,
            text=True,
        )
        assert ran.stdout == f"{said}\n"


def test_each_task_of_an_array_is_asked_for_on_its_own_line(slurm_bin, tmp_path):
    listed = "echo '50_0|PENDING||None'; echo '50_1|PENDING||None'"
    fake(slurm_bin, "squeue", f'echo "$@" > "$(dirname "$0")/args"; {listed}')
    jobs = [slurm.Job(f"50_{i}", "grid", tmp_path / "log", "PENDING") for i in range(2)]
    jobs[1].state = ""
    assert slurm.refresh(jobs) == [jobs[1]]
    assert "--array" in (slurm_bin / "args").read_text().split()
