"""What a replay copies into its worktree: the DVC-tracked inputs, not images or .deb files."""

from __future__ import annotations

import subprocess

from lockstep import remote


def test_inputs_are_the_tracked_dvc_files_but_images_and_the_base_debs(tmp_path):
    for name in ("data/raw.csv.dvc", "images/ab12.dvc", "docker/base/debs.dvc", "x.dvc"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("outs: []\n")
    (tmp_path / "untracked.dvc").write_text("outs: []\n")
    for args in (["init", "--quiet"], ["add", "data", "images", "docker", "x.dvc"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True)

    assert remote.inputs(tmp_path, tmp_path) == ["data/raw.csv.dvc", "x.dvc"]
