"""The DVC pipeline, run for real on a small extract, reproduces byte-identical outputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import commands
from tests.support.projects import declared_outputs, out_hashes

REPO = Path(__file__).resolve().parents[2]
# Not resolved: the venv's bin/python is a symlink, and the venv is what we want on PATH.
BIN = Path(sys.executable).parent
DVC = BIN / "dvc"
ROWS_PER_MONTH = 400


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        # The stages must import the copied code, not the editable install of the repo's.
        "PYTHONPATH": str(cwd / "src"),
    }
    # A guard against a hang, not a time limit: a busy 2-CPU machine needs minutes.
    return commands.run(cmd, cwd, env=env, timeout=900)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    # poetry.lock: the report stage shows its sha256.
    for name in ("dvc.yaml", "params.yaml", "environment.yaml", "poetry.lock"):
        shutil.copyfile(REPO / name, tmp_path / name)
    # src/ with its link to the kit (kit/src/lockstep), which the report stage depends on.
    for folder in ("src", "kit/src"):
        shutil.copytree(
            REPO / folder,
            tmp_path / folder,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    settings = yaml.safe_load((tmp_path / "params.yaml").read_text())
    settings["ingest"]["rows_per_month"] = ROWS_PER_MONTH
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    run(["git", "init", "--quiet"], tmp_path)
    run([str(DVC), "init", "--quiet"], tmp_path)
    return tmp_path


def test_dvc_repro_is_deterministic(workspace: Path) -> None:
    run([str(DVC), "repro"], workspace)
    first = out_hashes(workspace)
    assert set(first) == declared_outputs(workspace)
    metrics = json.loads((workspace / "reports" / "metrics.json").read_text())

    run([str(DVC), "repro", "--force"], workspace)

    assert out_hashes(workspace) == first
    assert (workspace / "reports" / "metrics.json").read_text() == json.dumps(
        metrics, indent=2, sort_keys=True
    ) + "\n"
    assert 0.5 < metrics["auc"] <= 1
    features = yaml.safe_load((workspace / "params.yaml").read_text())["features"]
    assert len(metrics["months"]) == features["test_months"]
    assert metrics["rows"] == features["test_months"] * ROWS_PER_MONTH


def test_a_new_environment_makes_every_stage_stale(workspace: Path) -> None:
    run([str(DVC), "repro"], workspace)
    assert "up to date" in run([str(DVC), "status"], workspace).stdout
    recorded = (workspace / "environment.yaml").read_text()
    another = {**yaml.safe_load(recorded), "fingerprint": "another-environment"}
    (workspace / "environment.yaml").write_text(yaml.safe_dump(another))

    status = run([str(DVC), "status", "--json"], workspace).stdout
    stale = json.loads(status)
    stages = yaml.safe_load((workspace / "dvc.yaml").read_text())["stages"]
    assert set(stale) == set(stages)
    for stage in stages:
        assert {"changed deps": {"params.yaml": "modified"}} not in stale[stage]
        assert any("environment.yaml" in str(change) for change in stale[stage]), stale[stage]

    (workspace / "environment.yaml").write_text(recorded)
    assert "up to date" in run([str(DVC), "status"], workspace).stdout
