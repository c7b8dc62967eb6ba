"""`lockstep.run.slurm` on a real one-node cluster: the image by id in a job, as its submitter.

A job runs `docker run` of the runtime image; scancel and a controller that is down each end
in one line saying what to do, and leave the workspace as it was.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from lockstep.config import ExecutorSettings
from lockstep.errors import SlurmError
from lockstep.run import slurm
from lockstep.run.containers import Run

from tests.support import machines

pytestmark = pytest.mark.docker

# Not an ordinary user: in the docker group, as a cluster's users must be to run containers.
USER = "lockstep-slurm"
SLURM = ExecutorSettings("slurm")
# Submitted by USER: the kit as a user on a login node would run it.
SUBMIT = """
import json, sys
from pathlib import Path
from lockstep import config, engines
from lockstep.run import slurm
from lockstep.run.containers import Run

root, image = Path(sys.argv[1]), sys.argv[2]
settings = config.load(root)
code = "import os; open('written-by-job', 'w').write(f'{os.getuid()}:{os.getgid()}')"
run = Run(settings, engines.find(), image, ["python3", "-c", code]).with_network("none")
job = slurm.submit(slurm.script(run), "write", root / "jobs", settings.executor)
slurm.wait([job], interval=0.2)[0].check()
print(json.dumps({"state": job.state, "node": job.node, "output": str(job.output)}))
"""


@pytest.fixture(autouse=True)
def on_cluster(slurm_cluster, monkeypatch):
    """The kit reaches the test cluster as it would any: through Slurm's own SLURM_CONF."""
    for key, value in slurm_cluster.env().items():
        monkeypatch.setenv(key, value)
    return slurm_cluster


@pytest.fixture
def workspace(kit, settings) -> Path:
    """A workspace the jobs mount, outside pytest's 0700 temporary area (jobs' users reach it)."""
    folder = Path(tempfile.mkdtemp(prefix="lockstep-slurm-ws-", dir="/var/tmp"))
    folder.chmod(0o755)
    kit.scratch.append(folder)
    return folder


def test_a_job_runs_the_image_by_id_as_the_user_who_submitted_it(
    kit, workspace, runtime_image, on_cluster
) -> None:
    user = machines.plain_user(USER, groups="docker")
    (workspace / "pyproject.toml").write_text(
        '[tool.lockstep]\nimage = "unused"\n[tool.lockstep.executor]\nkind = "slurm"\n'
    )
    os.chown(workspace, user.pw_uid, user.pw_gid)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workspace),
        "PYTHONPATH": str(kit.repo / "src"),
        "LOCKSTEP_DOCKER": kit.engine.cli,
        **on_cluster.env(),
    }
    started = time.monotonic()

    proc = subprocess.run(
        [machines.python_for(user), "-c", SUBMIT, workspace, runtime_image.id],
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=os.getgrouplist(user.pw_name, user.pw_gid),  # as a login gives them
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert proc.returncode == 0, proc.stderr
    print(f"a job of docker run, submitted to done: {time.monotonic() - started:.1f} s")
    job = json.loads(proc.stdout)
    assert job["state"] == "COMPLETED"
    written = workspace / "written-by-job"
    assert written.read_text() == f"{user.pw_uid}:{user.pw_gid}"
    assert (written.stat().st_uid, written.stat().st_gid) == (user.pw_uid, user.pw_gid)
    # Echoed as the user could type it, and a script they can submit again.
    assert f"$ sbatch --parsable --job-name=write --output={workspace}/jobs/write-%j.log" in (
        proc.stderr
    )
    assert f"{runtime_image.id} python3 -c" in (workspace / "jobs" / "write.sh").read_text()


def test_a_job_killed_by_scancel_is_one_line_and_its_container_goes(
    kit, settings, workspace, runtime_image, on_cluster
) -> None:
    (workspace / "kept").write_text("before")
    run = Run(
        dataclasses.replace(settings, root=workspace),
        kit.engine,
        runtime_image.id,
        ["sleep", "300"],
    )
    job = slurm.submit(slurm.script(run.with_network("none")), "sleeper", workspace / "jobs", SLURM)
    _until(lambda: _container_state(kit, run.name) == "running", f"{run.name} to run")

    on_cluster.run("scancel", job.id, check=True)
    slurm.wait([job], interval=0.2)

    with pytest.raises(SlurmError) as caught:
        job.check()
    message = str(caught.value)
    assert message.startswith(f"Slurm job {job.id} (sleeper) on ") and "\n" not in message
    assert "was cancelled" in message and "run again" in message
    _until(lambda: _container_state(kit, run.name) == "", f"{run.name} to be removed")
    assert (workspace / "kept").read_text() == "before"


def test_a_controller_that_is_down_is_one_line_saying_what_to_do(workspace, on_cluster) -> None:
    (workspace / "kept").write_text("before")
    job = slurm.submit("#!/bin/sh\ntrue\n", "quick", workspace / "jobs", SLURM)
    slurm.wait([job], interval=0.2)[0].check()

    with on_cluster.controller_down():
        with pytest.raises(SlurmError) as submitting:
            slurm.submit("#!/bin/sh\ntrue\n", "refused", workspace / "jobs", SLURM)
        with pytest.raises(SlurmError) as waiting:
            slurm.wait([slurm.Job("1", "lost", workspace / "jobs" / "lost.log")])

    for caught in (submitting, waiting):
        message = str(caught.value)
        assert message.startswith("cannot reach the Slurm controller: "), message
        assert "scontrol ping" in message and "\n" not in message
    assert (workspace / "kept").read_text() == "before"


def _container_state(kit, name: str) -> str:
    listed = kit.docker("ps", "--all", "--filter", f"name=^{name}$", "--format", "{{.State}}")
    return listed.stdout.strip()


def _until(done, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.2)
