"""What the rerun's tests share: a git and DVC repository with every kind of metrics file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# A pipeline with every kind of metrics file DVC knows: top-level `metrics:` inside an output
# directory (as dvclive writes them), a stage's metrics file cached by DVC (not in git), a
# directory of metrics, a metrics file in git; JSON, YAML and TOML. AUC varies with the
# environment: a stand-in for nondeterminism.
SCRIPT = """\
mkdir -p live d
echo "{\\"auc\\": ${AUC:-0.5}, \\"rows\\": 10}" > live/metrics.json
echo 'x,y' > live/plot.csv
echo 'acc: 0.9' > cached.yaml
echo 'x = 1.5' > d/m.toml
echo '{"plain": 3}' > git.json
"""
DVC_YAML = """\
metrics:
  - live/metrics.json
stages:
  train:
    cmd: sh make.sh
    deps: [make.sh]
    params: [train]
    outs: [live]
    metrics:
      - cached.yaml
      - d
      - git.json:
          cache: false
"""
METRICS = {
    "live/metrics.json": {"auc": 0.5, "rows": 10.0},
    "cached.yaml": {"acc": 0.9},
    "d/m.toml": {"x": 1.5},
    "git.json": {"plain": 3.0},
}


def run(cwd: Path, *args: str, **env: str) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, env=os.environ | env)


def dvc(cwd: Path, *args: str, **env: str) -> None:
    run(cwd, sys.executable, "-m", "dvc", *args, **env)


def git(cwd: Path, *args: str) -> None:
    run(cwd, "git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A git and DVC repository whose pipeline ran and was committed."""
    root = tmp_path_factory.mktemp("project")
    git(root, "init", "--quiet")
    dvc(root, "init", "--quiet")
    (root / "make.sh").write_text(SCRIPT)
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text("train:\n  n_jobs: -1\n  seed: null\n  rate: 0.1\n")
    dvc(root, "repro", "--quiet")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "results")
    return root


def rerun_tree(root: Path, tmp_path: Path, **env: str) -> Path:
    """The committed revision rerun in a worktree of its own without git, as `invoke rerun` does."""
    tree = tmp_path / "tree"
    git(root, "worktree", "add", "--detach", "--quiet", str(tree), "HEAD")
    dvc(tree, "config", "--local", "core.no_scm", "true")
    dvc(tree, "repro", "--force", "--quiet", **env)
    return tree
