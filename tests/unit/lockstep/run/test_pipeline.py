import json
import subprocess
from pathlib import Path

import pytest
from dvc.repo import Repo
from lockstep.config import Settings
from lockstep.run import pipeline

# One stage that writes an output, as committed results.
STAGE = "  make:\n    cmd: mkdir -p out && echo 1 > out/a\n    outs: [out]\n"


def sh(cwd: Path, *args: str) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def project(tmp_path: Path, git_identity, monkeypatch) -> Path:
    """A git and DVC repository whose one stage ran and was committed."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)  # DVC's API takes its targets from the working directory
    sh(root, "git", "init", "--quiet")
    (root / "poetry.lock").write_text("")
    (root / "dvc.yaml").write_text("stages:\n" + STAGE)
    with Repo.init(str(root)) as repo:
        repo.reproduce()
    sh(root, "git", "add", "--all")
    sh(root, "git", "commit", "--quiet", "-m", "results")
    return root


class Probe:
    """A probe container's answer, counting how often it is started."""

    def __init__(self, image: str, answer: dict) -> None:
        self.image, self.answer, self.started = image, answer, 0

    def captured(self) -> str:
        self.started += 1
        return json.dumps(self.answer)


def test_machine_facts_are_asked_once_per_image_and_variables(tmp_path, monkeypatch):
    settings = Settings(root=tmp_path, image="img")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    probe = Probe("sha256:1", {"env": {}})
    assert pipeline.machine_facts(settings, probe) == {"env": {}}
    assert pipeline.machine_facts(settings, probe) == {"env": {}}
    assert probe.started == 1

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # another variable: asked again
    assert pipeline.machine_facts(settings, Probe("sha256:1", {"env": {"x": 1}})) == {
        "env": {"x": 1}
    }
    other = Probe("sha256:2", {"env": {}})  # another image: asked again
    pipeline.machine_facts(settings, other)
    assert other.started == 1


def test_a_failed_run_ends_with_no_verdict(project, capfd):
    (project / "dvc.yaml").write_text("stages:\n" + STAGE + "  fail:\n    cmd: exit 3\n")
    assert pipeline.run(Settings(root=project), ["repro"], local=True) != 0
    # Before the failure's own line: a verdict ("reproduced: 1 of 1 ...") would read as success.
    assert "reproduced" not in capfd.readouterr().err
