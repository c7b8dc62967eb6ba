"""Which source ran: the tree of src/ as git would hash it, kept and compared with a commit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lockstep import git
from lockstep.records import lineage, sources


@pytest.fixture
def repo(tmp_path: Path, git_identity) -> Path:
    """A repository with one commit of src/pkg/a.py and src/pkg/b.py, and an ignored folder."""
    root = tmp_path / "repo"
    (root / "src" / "pkg").mkdir(parents=True)
    git.init(root)
    (root / ".gitignore").write_text("__pycache__/\n")
    (root / "src" / "pkg" / "a.py").write_text("A = 1\n")
    (root / "src" / "pkg" / "b.py").write_text("B = 1\n")
    git.commit_all(root, "first")
    return root


def test_a_clean_tree_is_the_committed_one(repo: Path) -> None:
    assert sources.tree(repo) == git.tree_id(repo, "HEAD", "src")


def test_an_edit_a_new_file_and_a_deletion_each_change_it_and_leave_the_index(repo: Path) -> None:
    index = (repo / ".git" / "index").read_bytes()
    committed = sources.tree(repo)
    (repo / "src" / "pkg" / "a.py").write_text("A = 2\n")
    edited = sources.tree(repo)
    (repo / "src" / "pkg" / "c.py").write_text("C = 1\n")
    added = sources.tree(repo)
    (repo / "src" / "pkg" / "b.py").unlink()
    removed = sources.tree(repo)
    assert len({committed, edited, added, removed}) == 4
    assert (repo / ".git" / "index").read_bytes() == index
    git.commit_all(repo, "second")
    assert git.tree_id(repo, "HEAD", "src") == removed


def test_ignored_files_are_not_source(repo: Path) -> None:
    before = sources.tree(repo)
    (repo / "src" / "pkg" / "__pycache__").mkdir()
    (repo / "src" / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert sources.tree(repo) == before


def test_no_git_or_no_src_gives_none(tmp_path: Path, repo: Path, monkeypatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    plain = tmp_path / "plain"
    (plain / "src").mkdir(parents=True)
    (plain / "src" / "x.py").write_text("")
    assert sources.tree(plain) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    git.init(empty)
    assert sources.tree(empty) is None


def test_the_committed_source_is_recognised(repo: Path) -> None:
    check = sources.check(repo, "HEAD", sources.tree(repo))
    assert check.same
    assert "is the one that ran" in check.describe()


def test_a_result_committed_with_other_source_names_the_files(repo: Path) -> None:
    (repo / "src" / "pkg" / "a.py").write_text("A = 2\n")
    (repo / "src" / "pkg" / "c.py").write_text("C = 1\n")
    ran = sources.tree(repo)
    sources.keep(repo, ran)
    # The result is committed after an edit the run never saw.
    (repo / "src" / "pkg" / "c.py").unlink()
    git.commit_all(repo, "results, and one more edit")
    check = sources.check(repo, "HEAD", ran)
    assert not check.same
    assert check.differing == ("pkg/c.py",)
    assert check.describe().endswith(": src/pkg/c.py")


def test_the_kept_list_names_the_files_on_a_clone_without_the_objects(repo: Path) -> None:
    kept = repo / sources.FOLDER / "0123.txt"
    kept.parent.mkdir(parents=True)
    kept.write_text(sources.render({"pkg/a.py": "0" * 40, "pkg/b.py": "1" * 40}))
    git.commit_all(repo, "a list for a tree this clone never had")
    check = sources.check(repo, "HEAD", "0123")
    assert check.differing == ("pkg/a.py", "pkg/b.py")


def test_an_unknown_tree_with_no_list_says_so(repo: Path) -> None:
    check = sources.check(repo, "HEAD", "f" * 40)
    assert check.differing is None
    assert "unknown" in check.describe()


def test_a_record_before_the_field_loads_and_says_not_recorded(repo: Path, environment) -> None:
    run = lineage.StageRun(environment(), {"out": "1"}, "2026-01-01T00:00:00Z")
    data = lineage.LineageRecord({"train": run}).to_dict()
    assert "source_tree" not in data["stages"]["train"]
    old = lineage.parse(json.dumps(data), "old")
    assert old.stages["train"].environment.source_tree is None
    assert "not recorded" in sources.check(repo, "HEAD", None).describe()


def test_prune_keeps_only_the_named_trees(repo: Path) -> None:
    for name in ("keep", "drop"):
        target = repo / sources.FOLDER / f"{name}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("")
    sources.prune(repo, {"keep"})
    assert [p.name for p in (repo / sources.FOLDER).iterdir()] == ["keep.txt"]


def test_a_project_in_a_folder_of_its_repository_hashes_its_own_src(repo: Path) -> None:
    project = repo / "project"
    (project / "src" / "other").mkdir(parents=True)
    (project / "src" / "other" / "x.py").write_text("X = 1\n")
    git.commit_all(repo, "a project in a folder")
    assert sources.tree(project) == git.tree_id(repo, "HEAD", "project/src")
    assert sources.tree(project) == git.tree_id(project, "HEAD", "src")
    assert sources.tree(project) != sources.tree(repo)
