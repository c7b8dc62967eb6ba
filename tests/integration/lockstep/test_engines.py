"""The Docker engine stopped midway (`systemctl restart`), or killed (a crash, the OOM killer):
during an image's load, a build, and a run. Each ends with one line, records nothing half-done,
and the next try after the engine is back completes.

An engine of the test's own, never the machine's, stopped three times in one test: each phase's
recovery leaves what the next needs (the base image, then the project's image), so the engine is
filled once, by the kit itself.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from lockstep import config, paths
from lockstep.errors import EngineStoppedError
from lockstep.images import builder, layout
from lockstep.records import lineage

from tests.support import commands, machines

pytestmark = pytest.mark.docker

# What the kit's message asks of the user, after what stopped.
REMEDY = (
    "; start it again (`sudo systemctl start docker`, or `dockerd &`), then run the task again: "
    "what did not finish was not recorded"
)
# A pipeline of two stages, the second as slow as its input `nap` says: killed in it, then quick.
PIPELINE = """\
stages:
  quick:
    cmd: echo quick > quick.txt
    outs: [quick.txt]
  slow:
    cmd: sleep $(cat nap) && cat quick.txt > slow.txt
    deps: [quick.txt, nap]
    outs: [slow.txt]
"""


def kill(engine: machines.SecondEngine, sig: int = signal.SIGKILL) -> None:
    """The engine killed outright (no chance to stop its containers or answer its clients), or
    stopped (SIGTERM: `systemctl stop` or `restart`)."""
    assert engine.process is not None
    engine.process.send_signal(sig)
    engine.process.wait(60)


def killed_during(
    kit, project: Path, engine: machines.SecondEngine, task: str, sign: Callable[[str], bool]
) -> subprocess.CompletedProcess[str]:
    """`invoke TASK` on the engine, which is killed once a line of its output shows `sign`."""
    process = subprocess.Popen(
        [str(kit.invoke_cli), "-r", str(project), task],
        env=kit.env(project, **engine.env()),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    for line in process.stderr:
        seen.append(line)
        if sign(line):
            kill(engine)
            break
    else:
        pytest.fail(f"invoke {task} ended before the engine was killed:\n{''.join(seen)}")
    stdout, rest = process.communicate(timeout=120)
    return subprocess.CompletedProcess(
        process.args, process.returncode, stdout, "".join(seen) + rest
    )


def stopped_during(error: str, command: str) -> None:
    """`error` is the one line for an engine that stopped during `command`.

    After what stopped comes the docker CLI's last line, or, when it said nothing the kit
    recognises (a build's line depends on the step it was at), the probe's `Cannot connect`.
    """
    assert error.startswith(f"error: the Docker engine stopped during `{command}`: "), error
    assert error.endswith(REMEDY), error


def load_killed_midway(
    kit, engine: machines.SecondEngine, folder: Path, image_id: str
) -> BaseException:
    """`layout.load` into the engine, stopped once `docker load` has taken a part of the image."""
    raised: list[BaseException] = []

    def load() -> None:
        try:
            layout.load(kit.engine, folder, image_id)
        except BaseException as exc:  # the test's thread reads it
            raised.append(exc)

    loading = threading.Thread(target=load)
    loading.start()
    # The engine writes what it receives under its data root: stopped a moment into it.
    deadline = time.monotonic() + 60
    while not any((engine.root / "data" / "tmp").glob("docker-import-*")):
        assert loading.is_alive() and time.monotonic() < deadline, "docker load never started"
        time.sleep(0.05)
    time.sleep(0.5)  # of the 4 s a load of the base takes
    assert loading.is_alive(), "the load ended before the engine was stopped"
    kill(engine, signal.SIGTERM)
    loading.join(60)
    assert raised, "the load succeeded on a stopped engine"
    return raised[0]


# The build after the engine is back makes the Dockerfile's stages in an empty engine.
@pytest.mark.timeout(900)
def test_an_engine_stopped_during_a_load_a_build_and_a_run(kit, tmp_path, monkeypatch) -> None:
    machines.require_root("starts a Docker engine of its own")
    base_id = builder.resolve_base(config.load(kit.snapshot()), kit.engine).id
    stored = tmp_path / "layout"
    layout.write(kit.engine, base_id, stored)  # read from the machine's engine, never changed
    project = kit.copy("engine-killed")
    (project / "dvc.yaml").write_text(PIPELINE)
    (project / "nap").write_text("60\n")
    (project / "dvc.lock").unlink(missing_ok=True)
    (project / lineage.PATH).unlink(missing_ok=True)
    commands.commit_all(project, "a pipeline of a quick and a slow stage")
    with machines.SecondEngine() as engine:
        # A load (`./inv pull`, `rerun`): one line, and no image half-loaded. In this process:
        # the kit's engine is the one DOCKER_HOST names when each command starts.
        monkeypatch.setenv("DOCKER_HOST", engine.host)
        error = load_killed_midway(kit, engine, stored, base_id)
        assert isinstance(error, EngineStoppedError), repr(error)
        stopped_during(f"error: {error}", "docker load")
        engine.restart()
        assert engine.image_id(base_id) is None
        layout.load(kit.engine, stored, base_id)
        assert engine.image_id(base_id) == base_id
        monkeypatch.delenv("DOCKER_HOST")

        # A build: no answer recorded for an image not finished, nothing in the project changed.
        stopped = killed_during(kit, project, engine, "build", lambda line: " RUN " in line)
        stopped_during(commands.one_error(stopped), "docker build")
        assert not (project / paths.BUILD_RECORD).exists()
        assert kit.git(project, "status", "--porcelain") == ""
        engine.restart()
        kit.invoke(project, "build", env=engine.env())
        assert (project / paths.BUILD_RECORD).exists()

        # A run: the finished stage keeps its lineage, the one cut short is in neither record.
        stopped = killed_during(kit, project, engine, "repro", lambda line: "'slow'" in line)
        stopped_during(commands.one_error(stopped), "docker run")
        assert set(lineage.read_dvc_lock(project)["stages"]) == {"quick"}
        assert set(json.loads((project / lineage.PATH).read_text())["stages"]) == {"quick"}
        assert not (project / "slow.txt").exists()
        engine.restart()
        kit.invoke(project, "lineage")  # dvc.lock and the lineage agree
        (project / "nap").write_text("0\n")
        again = kit.invoke(project, "repro", env=engine.env())
        assert "Running stage 'slow'" in again.stdout + again.stderr
        assert set(json.loads((project / lineage.PATH).read_text())["stages"]) == {"quick", "slow"}
        left = subprocess.run(
            ["/usr/bin/docker", "--host", engine.host, "ps", "--all", "--quiet"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert left.stdout == "", "a container of the killed run is left"
