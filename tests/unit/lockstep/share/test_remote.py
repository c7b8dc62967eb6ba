"""What a replay copies into its worktree (the DVC-tracked inputs, not images or .deb files), and
which remote DVC reaches at a past revision (the checkout's)."""

from __future__ import annotations

import subprocess
import sys

from lockstep.share import remote


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
