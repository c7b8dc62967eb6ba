"""`lockstep.run.executor` without Docker or Slurm: the choice of executor, and how a run ends.

A fake docker CLI runs the container's command on the host; tests/integration has the real
engine and cluster.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from lockstep.config import ExecutorSettings, Settings
from lockstep.engines import Engine
from lockstep.errors import ConfigError
from lockstep.run import executor
from lockstep.run.containers import Run

# Runs the command after the image (`... IMAGE sh -c SCRIPT sh CMD...`) in the mounted tree.
DOCKER = """#!/bin/sh
[ "$1" = run ] || exit 0
while [ "$1" != sha256:img ]; do
  case "$1" in --workdir) shift; cd "$1";; esac
  shift
done
shift
exec "$@"
"""


@pytest.fixture
def docker(tmp_path: Path) -> Engine:
    cli = tmp_path / "docker"
    cli.write_text(DOCKER)
    cli.chmod(0o755)
    return Engine(str(cli))


def run_in(tree: Path, engine: Engine, command: list[str]) -> Run:
    (tree / ".dvc").mkdir(parents=True)
    settings = Settings(root=tree, image="x", workdir=str(tree))
    return Run(settings, engine, "sha256:img", command)


def test_on_names_the_executor_else_the_project_does(tmp_path) -> None:
    settings = Settings(root=tmp_path, executor=ExecutorSettings("slurm"))
    assert executor.kind(settings) == "slurm"
    assert executor.kind(settings, "local") == "local"
    with pytest.raises(ConfigError, match="--on 'k8s' is not an executor; use local or slurm"):
        executor.kind(settings, "k8s")


def test_a_local_run_ends_with_the_machine_facts_its_container_wrote(
    tmp_path, docker, monkeypatch
) -> None:
    monkeypatch.setattr("lockstep.runtime.machine.command", lambda: ["python", "-c", "print(1)"])
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    good = run_in(tmp_path / "good", docker, ["touch", "made"])
    bad = run_in(tmp_path / "bad", docker, ["sh", "-c", "exit 3"])
    settings = Settings(root=tmp_path)

    ok, failed = executor.run_all(settings, {"good": good, "bad": bad}, executor.LOCAL)

    assert (ok.error, ok.facts, ok.job, ok.where()) == ("", 1, None, "here")
    assert (tmp_path / "good" / "made").exists()
    assert failed.error == "bad: the command failed (exit code 3); see its output above"
    assert failed.facts is None
    assert json.loads((tmp_path / "good" / executor.FACTS).read_text()) == 1
