"""`lockstep.dvcconfig` on real git and DVC repositories: the cache, a worktree's config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lockstep import dvcconfig


def dvc(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    subprocess.run(["git", "init", "--quiet"], cwd=root, check=True)
    dvc(root, "init", "--quiet")
    return root


def test_the_cache_is_dvcs_default_when_unset(repo: Path) -> None:
    assert dvcconfig.cache_dir(repo) == repo / ".dvc" / "cache"


def test_a_relative_cache_dir_is_taken_from_the_config_that_sets_it(repo: Path) -> None:
    with (repo / ".dvc" / "config").open("a") as config:
        config.write("[cache]\n    dir = ../outside-cache\n")  # as a user would commit it
    assert dvcconfig.cache_dir(repo) == repo / "outside-cache"  # .dvc/../outside-cache


def test_the_local_config_wins_over_the_projects(repo: Path, tmp_path: Path) -> None:
    dvc(repo, "config", "cache.dir", "../outside-cache")
    dvc(repo, "config", "--local", "cache.dir", str(tmp_path / "mine"))
    assert dvcconfig.cache_dir(repo) == tmp_path / "mine"


def test_a_worktree_shares_the_checkouts_cache(repo: Path, tmp_path: Path) -> None:
    dvc(repo, "config", "cache.dir", "../outside-cache")  # from the root: beside it
    tree = tmp_path / "tree"
    subprocess.run(["git", "clone", "--quiet", str(repo), str(tree)], check=True)
    dvc(tree, "init", "--quiet")  # the clone has no commit, so no .dvc/ of its own yet
    dvcconfig.share_cache(tree, dvcconfig.cache_dir(repo))
    assert dvcconfig.cache_dir(tree) == tmp_path / "outside-cache"
    assert "outside-cache" in (tree / ".dvc" / "config.local").read_text()


def test_no_scm_is_set_in_the_local_config_and_unset_again(repo: Path) -> None:
    dvcconfig.no_scm(repo)
    assert dvc(repo, "config", "--local", "core.no_scm") == "true"
    assert "no_scm" not in (repo / ".dvc" / "config").read_text()
    dvcconfig.no_scm(repo, on=False)
    with pytest.raises(subprocess.CalledProcessError):
        dvc(repo, "config", "--local", "core.no_scm")


def test_space_is_asked_of_a_copy_of_a_project_that_is_no_git_repository(tmp_path: Path) -> None:
    # A copy of a project without its .git (the tests' snapshot; an unpacked archive): a failed
    # checkout there is another rung's business, never "not a git repository".
    from dvc.repo import Repo

    Repo.init(str(tmp_path), no_scm=True).close()
    config = tmp_path / ".dvc" / "config"
    config.write_text(config.read_text().replace("no_scm = True", "no_scm = False"))
    (tmp_path / "dvc.yaml").write_text("stages:\n  s:\n    cmd: true\n    outs: [out]\n")

    assert dvcconfig.short_of_space(tmp_path, ["out"]) is None
