"""Every git call the kit makes, against a real repository in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from lockstep import git
from lockstep.errors import LockstepError, RevisionError


@pytest.fixture
def repo(tmp_path: Path, git_identity) -> Path:
    """A repository with one commit of `a.txt`."""
    root = tmp_path / "repo"
    root.mkdir()
    git.init(root)
    (root / "a.txt").write_text("one\n")
    git.commit_all(root, "first")
    return root


def test_a_new_repository_has_no_commit(tmp_path: Path) -> None:
    git.init(tmp_path)
    assert git.is_repository(tmp_path)
    assert git.commit(tmp_path) == ""


def test_a_plain_folder_is_not_a_repository(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert not git.is_repository(tmp_path)


def test_commit_and_resolve_agree(repo: Path) -> None:
    sha = git.commit(repo)
    assert len(sha) == 40
    assert git.resolve(repo, "HEAD") == sha
    with pytest.raises(RevisionError, match="unknown revision 'nope'"):
        git.resolve(repo, "nope")


def test_dirty_and_changed_files_include_untracked_ones(repo: Path) -> None:
    assert not git.is_dirty(repo)
    (repo / "new" / "b.txt").parent.mkdir()
    (repo / "new" / "b.txt").write_text("b")
    (repo / "a.txt").write_text("two\n")
    assert git.is_dirty(repo)
    assert git.changed_files(repo) == ["a.txt", "new/b.txt"]


def test_state_is_commit_and_dirtiness_at_once(repo: Path, tmp_path: Path) -> None:
    assert git.state(repo) == (git.commit(repo), False)
    (repo / "untracked.txt").write_text("u")
    assert git.state(repo) == (git.commit(repo), True)
    (repo / "untracked.txt").unlink()
    (repo / "a.txt").write_text("two\n")
    assert git.state(repo) == (git.commit(repo), True)
    empty = tmp_path / "empty"
    empty.mkdir()
    git.init(empty)
    assert git.state(empty) == ("", False)


def test_show_reads_a_file_at_a_revision(repo: Path) -> None:
    first = git.commit(repo)
    (repo / "a.txt").write_text("two\n")
    git.commit_all(repo, "second")
    assert git.show(repo, first, "a.txt") == "one"
    with pytest.raises(LockstepError, match=r"missing\.txt not found at"):
        git.show(repo, first, "missing.txt")


def test_exists_says_whether_a_revision_has_a_path(repo: Path) -> None:
    first = git.commit(repo)
    (repo / "later").mkdir()
    (repo / "later" / "b.txt").write_text("b\n")
    git.commit_all(repo, "second")
    assert git.exists(repo, first, "a.txt")
    assert not git.exists(repo, first, "later/b.txt")
    assert git.exists(repo, "HEAD", "later/b.txt") and git.exists(repo, "HEAD", "later")


def test_tags_expand_oldest_first_and_plain_revisions_pass_through(repo: Path) -> None:
    git.tag(repo, "model/1")
    (repo / "a.txt").write_text("two\n")
    git.commit_all(repo, "second")
    git.tag(repo, "model/2")
    assert git.tags(repo, "model/*") == ["model/1", "model/2"]
    assert git.expand(repo, "model/*") == ["model/1", "model/2"]
    assert git.expand(repo, "HEAD~1") == ["HEAD~1"]
    with pytest.raises(RevisionError, match="no tag matches 'other/\\*'"):
        git.expand(repo, "other/*")


def test_a_machine_commit_needs_no_configured_identity(
    repo: Path, git_identity, monkeypatch
) -> None:
    for name in git_identity:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(repo.parent))  # no global identity either
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    (repo / "a.txt").write_text("promoted\n")
    git.commit_all(repo, "promote", machine=True)
    author = git.shell.output(["git", "log", "-1", "--format=%an <%ae>"], cwd=repo)
    assert author == "lockstep <lockstep@localhost>"


def test_a_worktree_is_removed_whatever_happens(repo: Path) -> None:
    first = git.commit(repo)
    (repo / "a.txt").write_text("two\n")
    git.commit_all(repo, "second")
    with pytest.raises(RuntimeError), git.worktree(repo, first) as tree:
        assert (tree / "a.txt").read_text() == "one\n"
        kept = tree
        raise RuntimeError("a replay failed")
    assert not kept.exists() and not kept.parent.exists()
    listed = git.shell.output(["git", "worktree", "list"], cwd=repo)
    assert len(listed.splitlines()) == 1
    assert (repo / "a.txt").read_text() == "two\n"


def test_unmerged_files_are_listed(repo: Path) -> None:
    git.shell.run(["git", "checkout", "--quiet", "-b", "side"], cwd=repo, quiet=True)
    (repo / "a.txt").write_text("side\n")
    git.commit_all(repo, "side")
    git.shell.run(["git", "checkout", "--quiet", "-"], cwd=repo, quiet=True)
    (repo / "a.txt").write_text("main\n")
    git.commit_all(repo, "main")
    git.shell.run(["git", "merge", "--quiet", "side"], cwd=repo, quiet=True, check=False)
    assert git.unmerged_files(repo) == ["a.txt"]


def test_the_identity_is_the_one_git_would_commit_with(
    repo: Path, git_identity, monkeypatch
) -> None:
    monkeypatch.setenv("GIT_COMMITTER_NAME", "someone else")
    assert git.identity_env(repo) == {
        **git_identity,
        "GIT_COMMITTER_NAME": "someone else",
    }


def test_put_files_changes_only_those_files_of_the_commit_a_ref_names(repo: Path) -> None:
    base = git.commit(repo)
    (repo / "a.txt").write_text("experiment\n")
    git.commit_all(repo, "an experiment\n\nwith a body")
    made = git.commit(repo)
    ref = "refs/exps/ab/cdef/exp-1"
    git.shell.run(["git", "update-ref", ref, made], cwd=repo)
    git.shell.run(["git", "reset", "--quiet", "--hard", base], cwd=repo)
    (repo / "reports").mkdir()
    (repo / "reports" / "lineage.json").write_text("{}\n")

    new = git.put_files(repo, ref, ["reports/lineage.json"])

    assert git.refs(repo, "refs/exps/") == {ref: new}
    assert git.show(repo, new, "reports/lineage.json") == "{}"
    assert git.show(repo, new, "a.txt") == "experiment"
    describe = ["git", "show", "--no-patch", "--format=%P%n%an%n%ae%n%ad%n%cn%n%cd%n%B"]
    assert git.shell.output([*describe, new], cwd=repo) == git.shell.output(
        [*describe, made], cwd=repo
    )
    assert git.changed_files(repo) == ["reports/lineage.json"]  # the tree and index as they were
    assert git.put_files(repo, ref, ["reports/lineage.json"]) == new  # already there: no change


def test_refs_lists_only_those_under_the_prefix(repo: Path) -> None:
    sha = git.commit(repo)
    for ref in ("refs/exps/ab/cd/one", "refs/exps/ab/cd/two", "refs/exps/exec/EXEC_HEAD"):
        git.shell.run(["git", "update-ref", ref, sha], cwd=repo)
    assert git.refs(repo, "refs/exps/ab/cd/") == {
        "refs/exps/ab/cd/one": sha,
        "refs/exps/ab/cd/two": sha,
    }
    assert git.refs(repo, "refs/exps/ff/") == {}
