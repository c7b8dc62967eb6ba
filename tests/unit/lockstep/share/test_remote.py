"""What a replay copies into its worktree (the DVC-tracked inputs, not images or .deb files, and
never a damaged copy), and which remote DVC reaches at a past revision (the checkout's)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lockstep import dvccache, git
from lockstep.errors import DamagedCacheError, DiskFullError, LockstepError
from lockstep.share import remote

from tests.unit.lockstep.conftest import cache_file, dvc, rot


def test_inputs_are_the_tracked_dvc_files_but_images_and_the_base_debs(tmp_path):
    for name in ("data/raw.csv.dvc", "images/ab12.dvc", "docker/base/debs.dvc", "x.dvc"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("outs: []\n")
    (tmp_path / "untracked.dvc").write_text("outs: []\n")
    for args in (["init", "--quiet"], ["add", "data", "images", "docker", "x.dvc"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True)

    assert remote.inputs(tmp_path, tmp_path) == ["data/raw.csv.dvc", "x.dvc"]


def test_dvc_stays_on_the_checkouts_remote_at_a_revision_that_named_another(tmp_path):
    from dvc.repo import Repo

    dvc = [sys.executable, "-m", "dvc"]
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "--quiet"], cwd=tmp_path, check=True)
    subprocess.run([*dvc, "init", "--quiet"], cwd=tmp_path, check=True)
    subprocess.run([*dvc, "remote", "add", "-d", "old", "/srv/planted"], cwd=tmp_path, check=True)
    subprocess.run(["git", *identity, "commit", "-qam", "old remote"], cwd=tmp_path, check=True)
    past = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run([*dvc, "remote", "add", "-d", "ours", "/srv/ours"], cwd=tmp_path, check=True)

    pinned = remote.checkout_remote(tmp_path)
    assert pinned["remote"] == "ours" and pinned["remote_config"]["url"] == "/srv/ours"
    with Repo(str(tmp_path), rev=past) as unpinned:
        assert unpinned.config["core"]["remote"] == "old"  # what DVC alone would use
    with Repo(str(tmp_path), rev=past, **pinned) as repo:
        assert repo.config["core"]["remote"] == "ours"
        assert repo.config["remote"]["ours"]["url"] == "/srv/ours"


def tracked(root: Path, data: bytes, cache: Path | None = None) -> None:
    """A git and DVC repository at `root` whose one commit tracks `big.bin` (DVC's API: fast)."""
    from dvc.repo import Repo

    root.mkdir(exist_ok=True)
    (root / "big.bin").write_bytes(data)
    subprocess.run(["git", "init", "--quiet"], cwd=root, check=True)
    with Repo.init(str(root)) as repo:
        if cache:
            with repo.config.edit() as config:
                config["cache"]["dir"] = str(cache)
    with contextlib.chdir(root), Repo(str(root)) as repo:
        repo.add(["big.bin"])
    subprocess.run(["git", "add", "--all"], cwd=root, check=True)
    subprocess.run(["git", "commit", "--quiet", "-m", "data"], cwd=root, check=True)


def test_a_checkout_that_fills_the_disk_says_so_keeps_nothing_and_completes_once_freed(
    tmp_path, small_disk, git_identity
):
    data = os.urandom(6_000_000)
    tracked(tmp_path / "origin", data, cache=tmp_path / "cache")
    disk = small_disk(tmp_path / "disk", 4)
    workspace = disk.path / "workspace"
    subprocess.run(["git", "clone", "--quiet", tmp_path / "origin", workspace], check=True)

    with pytest.raises(DiskFullError) as caught:
        remote.checkout(workspace, "model/v3")

    assert str(caught.value) == (
        f"No space left on device while checking out the files of model/v3 into {workspace}; "
        "free some disk space (6 MB needed) and run again (nothing was replaced)"
    )
    # No half-written file, and none of DVC's temp files: they would hold the space.
    assert sorted(path.name for path in workspace.iterdir()) == [
        ".dvc",
        ".dvcignore",
        ".git",
        ".gitignore",
        "big.bin.dvc",
    ]
    disk.resize(16)
    remote.checkout(workspace, "model/v3")
    assert (workspace / "big.bin").read_bytes() == data


def test_a_checkout_that_lacks_data_says_which_not_that_the_disk_is_full(tmp_path, git_identity):
    tracked(tmp_path, b"data")
    shutil.rmtree(tmp_path / ".dvc" / "cache")
    (tmp_path / "big.bin").unlink()

    with pytest.raises(LockstepError) as caught:
        remote.checkout(tmp_path, "model/v3")
    assert not isinstance(caught.value, DiskFullError)
    assert caught.value.message == "model/v3: not in the DVC cache nor the remote: big.bin"


def test_a_fetch_that_fills_the_cache_says_so_not_that_the_remote_failed(
    tmp_path, small_disk, git_identity
):
    from dvc.repo import Repo

    root = tmp_path / "project"
    tracked(root, os.urandom(6_000_000))
    with Repo(str(root)) as repo:
        with repo.config.edit() as config:
            config["remote"]["store"] = {"url": str(tmp_path / "remote")}
            config["core"]["remote"] = "store"
        repo.push()
    shutil.rmtree(root / ".dvc" / "cache")
    disk = small_disk(tmp_path / "cache", 4)
    with Repo(str(root)) as repo, repo.config.edit("local") as config:
        config["cache"]["dir"] = str(disk.path)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()

    with pytest.raises(DiskFullError) as caught:
        remote.fetch(root, commit)

    assert str(caught.value) == (
        f"No space left on device while fetching into the DVC cache in {disk.path}; "
        "free some disk space and run again (nothing was replaced)"
    )
    assert [path for path in disk.path.rglob("*") if path.is_file()] == []  # no temp file
    disk.resize(16)
    remote.fetch(root, commit)


def test_an_input_damaged_in_the_cache_is_named_and_fetched_again_by_the_next_replay(dvc_project):
    root, data = dvc_project, b"month,score\n2024-01,612\n"
    (root / "data").mkdir()
    (root / "data/raw.csv").write_bytes(data)
    dvc(root, "add", "data/raw.csv")
    dvc(root, "push")
    git.commit_all(root, "raw data, in the remote")
    commit = git.commit(root)
    rot(cache_file(root, data))

    with git.worktree(root, commit) as tree:
        with pytest.raises(DamagedCacheError) as caught:
            remote.checkout_inputs(root, commit, tree, "v1")
        assert str(caught.value) == (
            f"the DVC cache's copy of data/raw.csv is damaged: {cache_file(root, data)} no longer "
            f"hashes to its name; removed it from the cache; {dvccache.FETCH_AGAIN}"
        )
        assert not (tree / "data/raw.csv").exists()  # the replay ran on nothing damaged

        assert remote.checkout_inputs(root, commit, tree, "v1") == ["data/raw.csv.dvc"]
        assert (tree / "data/raw.csv").read_bytes() == data
