"""When a recorded build is no answer: every change the long way must see.

The engine's side (the images still held) is tested against a real engine, in
tests/integration/lockstep/run/test_pipeline.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lockstep import git, paths
from lockstep.images import recorded

BUILD = recorded.Build(
    cli="/nonexistent/docker",
    tag="p:0123456789ab",
    commit_tag="p:git-0123456789ab",
    id="sha256:" + "1" * 64,
    fingerprint="f" * 64,
    dvc="3.67.1",
    base="lockstep-base:abc",
    base_id="sha256:" + "2" * 64,
)


@pytest.fixture
def project(tmp_path: Path, git_identity, monkeypatch) -> Path:
    """A committed project whose build was recorded with two inputs; no engine variables."""
    for name in recorded.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    git.init(tmp_path)
    (tmp_path / ".gitignore").write_text(".lockstep/\n")
    (tmp_path / "poetry.lock").write_text("lock\n")
    (tmp_path / "environment.yaml").write_text("fingerprint: f\n")
    git.commit_all(tmp_path, "first")
    recorded.record(tmp_path, BUILD, ["poetry.lock", "environment.yaml"])
    return tmp_path


def test_the_record_names_each_input_by_its_digest_and_the_git_state(project: Path) -> None:
    state = json.loads((project / paths.BUILD_RECORD).read_text())
    assert state["build"] == BUILD._asdict()
    assert set(state["inputs"]) == {"poetry.lock", "environment.yaml"}
    assert state["git"] == [git.commit(project), False]


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "poetry.lock").write_text("another lock\n"),
        lambda root: (root / "environment.yaml").unlink(),
        lambda root: (root / "new.txt").write_text("the tree is dirty now\n"),
        lambda root: (root / "notes.txt").write_text("n\n") or git.commit_all(root, "another"),
        lambda root: (root / paths.BUILD_RECORD).write_text("{not json"),
        lambda root: (root / paths.BUILD_RECORD).unlink(),
    ],
    ids=["input edited", "input removed", "tree dirty", "new commit", "damaged", "missing"],
)
def test_any_change_it_depends_on_leaves_the_answer_to_the_long_way(project: Path, change) -> None:
    change(project)
    assert recorded.answer(project) is None


def test_another_engine_variable_is_another_build(project: Path, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/other.sock")
    assert recorded.answer(project) is None


def test_an_engine_that_cannot_be_asked_is_no_answer_either(project: Path) -> None:
    # Everything else holds: the CLI the build used is gone, so nothing says the image is there.
    assert recorded.answer(project) is None


def test_an_older_record_is_no_answer(project: Path) -> None:
    path = project / paths.BUILD_RECORD
    state = json.loads(path.read_text())
    path.write_text(json.dumps({**state, "version": recorded.VERSION - 1}))
    assert recorded.answer(project) is None
