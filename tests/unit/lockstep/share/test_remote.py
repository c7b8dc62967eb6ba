"""What a replay copies into its worktree (the DVC-tracked inputs, not images or .deb files, and
never a damaged copy), and which remote DVC reaches at a past revision (the checkout's)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from lockstep import dvccache, git
from lockstep.errors import DamagedCacheError
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
