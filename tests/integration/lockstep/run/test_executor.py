"""The Slurm executor through the kit's tasks: a controller that is down, a job killed.

Each ends in one line saying what to do, and leaves the workspace and the DVC cache as they were.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.support import commands, projects

pytestmark = pytest.mark.docker

A = "model/a"


def test_a_controller_that_is_down_is_one_line_and_changes_nothing(
    kit, history, slurm_cluster
) -> None:
    before = projects.checkout_state(history.root)
    cache = projects.file_hashes(history.root / ".dvc" / "cache")

    with slurm_cluster.controller_down():
        proc = kit.invoke(
            history.root, "rerun", A, "--on", "slurm", env=slurm_cluster.env(), check=False
        )

    error = commands.one_error(proc)
    assert error.startswith("error: cannot reach the Slurm controller"), proc.stderr
    assert "nothing in the workspace changed" in error
    assert projects.checkout_state(history.root) == before
    assert projects.file_hashes(history.root / ".dvc" / "cache") == cache
    assert kit.git(history.root, "worktree", "list").count("\n") == 1


def test_a_job_killed_on_the_cluster_is_an_error_row_and_the_others_are_judged(
    kit, history, slurm_cluster
) -> None:
    before = projects.checkout_state(history.root)
    process = subprocess.Popen(
        [str(kit.invoke_cli), "-r", str(history.root), "rerun", f"{A} model/b", "--on", "slurm"],
        env=kit.env(history.root, **slurm_cluster.env()),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        killed = _kill_when_running(slurm_cluster, "rerun-model-a")
        out, err = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 1, err
    assert re.search(
        rf"^{A}\s+-\s+Slurm job {killed} on \S+\s+ERROR\s+Slurm job {killed} \(rerun-model-a\) "
        r"on \S+ was cancelled",
        out,
        re.M,
    ), out
    assert re.search(r"^model/b\s+sha256:\S+\s+Slurm job \S+ on \S+\s+identical", out, re.M), out
    assert err.splitlines()[-1] == f"not reproduced: {A}", err
    assert projects.checkout_state(history.root) == before
    assert kit.git(history.root, "worktree", "list").count("\n") == 1


def _kill_when_running(cluster, name: str, timeout: float = 300) -> str:
    """scancel the job called `name` once it runs, as an administrator would; its id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = cluster.run("squeue", "--noheader", "--format=%i %j %T").stdout.split("\n")
        for job_id, job_name, state in (line.split() for line in listed if line.strip()):
            if job_name == name and state == "RUNNING":
                time.sleep(3)  # well into its work: the container is up
                cluster.run("scancel", job_id)
                return job_id
        time.sleep(0.5)
    raise AssertionError(f"no job {name} ran within {timeout} s")
