"""The workspace lock and interruptions, through the real CLI: one repro at a time, and Ctrl-C
leaves neither a container nor a broken workspace behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import commands, projects

pytestmark = pytest.mark.docker

# How long a refusal may take: starting invoke and taking the lock, not waiting for the holder.
REFUSAL_SECONDS = 10


class Background:
    """`invoke repro --force` started in its own process group, its output kept in files."""

    def __init__(self, kit, project: Path, logs: Path) -> None:
        self.kit, self.project = kit, project
        self.stdout, self.stderr = logs / "stdout.txt", logs / "stderr.txt"
        with self.stdout.open("w") as out, self.stderr.open("w") as err:
            self.proc = subprocess.Popen(
                [str(kit.invoke_cli), "-r", str(project), "repro", "--force"],
                env=kit.env(project),
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def wait_for_container(self, timeout: float = 300) -> str:
        """The id of the run container once it is running on the project."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"repro ended early:\n{self.output()}"
            for cid in self.kit.run_containers(self.project):
                status = "{{.State.Status}}"
                state = self.kit.docker("inspect", "--format", status, cid, check=False)
                if state.stdout.strip() == "running":
                    return cid
            time.sleep(0.2)
        pytest.fail(f"no running lockstep-run- container after {timeout} s:\n{self.output()}")

    def interrupt(self, sig: int = signal.SIGINT) -> None:
        """Ctrl-C: SIGINT to the whole process group, as a terminal sends it (or another)."""
        os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.interrupt()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for cid in self.kit.run_containers(self.project):
            self.kit.docker("rm", "--force", cid, check=False)


@pytest.fixture
def start(kit, runtime_image, tmp_path) -> Iterator:
    started: list[Background] = []

    def starter(project: Path) -> Background:
        run = Background(kit, project, tmp_path)
        started.append(run)
        return run

    yield starter
    for run in started:
        run.stop()


def test_a_second_repro_is_refused_at_once_naming_the_holder(kit, start) -> None:
    project = kit.copy("concurrent")
    first = start(project)
    first.wait_for_container()

    began = time.monotonic()
    second = kit.invoke(project, "repro", check=False, timeout=60)
    elapsed = time.monotonic() - began

    assert first.proc.poll() is None, "the first repro ended before the second was refused"
    assert second.returncode != 0
    assert elapsed < REFUSAL_SECONDS, f"refused only after {elapsed:.1f} s"
    message = second.stderr
    assert "workspace is busy" in message, message
    assert f"`invoke repro` (pid {first.proc.pid} on " in message, message
    assert "Running stage" not in second.stdout + second.stderr
    # The holder is not disturbed and finishes normally.
    assert first.proc.wait(timeout=300) == 0, first.output()
    assert kit.run_containers(project) == []


def test_an_interrupted_repro_leaves_no_container_and_the_next_one_succeeds(kit, start) -> None:
    project = kit.copy("interrupted")
    first = start(project)
    first.wait_for_container()

    first.interrupt()
    code = first.proc.wait(timeout=60)

    assert code == 130, first.output()
    assert "interrupted" in first.output()
    assert kit.run_containers(project) == []
    # The stages that finished before Ctrl-C are in dvc.lock, and in the lineage too.
    kit.invoke(project, "lineage")
    again = kit.invoke(project, "repro")
    assert "Running stage" in again.stdout + again.stderr
    assert kit.run_containers(project) == []
    status = kit.dvc(project, "status", "dvc.yaml")  # the pipeline's stages
    assert "up to date" in status.stdout, status.stdout
    kit.invoke(project, "lineage")


def test_a_closed_terminal_stops_the_run_like_ctrl_c(kit, start) -> None:
    project = kit.copy("hangup")
    first = start(project)
    first.wait_for_container()

    first.interrupt(signal.SIGHUP)

    assert first.proc.wait(timeout=60) == 130, first.output()
    assert kit.run_containers(project) == []


def test_a_container_a_killed_run_left_running_is_refused_by_name(kit, start) -> None:
    project = kit.copy("killed")
    # A bigger extract, so that the container is still at work when the next run starts.
    projects.set_param(project, "rows_per_month", "20000")
    first = start(project)
    container = first.wait_for_container()

    # The kit itself is killed outright: it cannot stop its container, which runs on.
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(timeout=30)
    assert kit.run_containers(project) == [container]

    second = kit.invoke(project, "repro", check=False, timeout=120)

    name = kit.docker("inspect", "--format", "{{.Name}}", container).stdout.strip("/\n")
    assert second.returncode != 0
    assert second.stderr.splitlines()[-1] == (
        f"error: the container {name} of an earlier run still works on this workspace; "
        f"wait for it to end, or stop it: docker rm --force {name}"
    )
    assert "Running stage" not in second.stdout + second.stderr
    kit.docker("rm", "--force", container)
    # What the orphan finished is in dvc.lock with no lineage: `lineage` says which stages.
    shown = kit.invoke(project, "lineage", check=False)
    if shown.returncode:
        assert commands.one_error(shown).startswith("error: the lineage and dvc.lock disagree: "), (
            shown.stderr
        )
