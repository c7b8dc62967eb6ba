"""The stages' paths a container cannot follow are refused before any build; its cache mounted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dvc.repo import Repo
from lockstep.config import Settings
from lockstep.errors import LinkError
from lockstep.run import pipeline, view

DVC_YAML = """\
stages:
  features:
    cmd: python make.py
    deps: [make.py, data]
    outs: [outputs/features]
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A DVC project whose one stage reads data/ and writes outputs/features; no links yet."""
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "outputs").mkdir()
    (root / "make.py").write_text("")
    (root / "data" / "raw.csv").write_text("x\n")
    (root / "dvc.yaml").write_text(DVC_YAML)
    Repo.init(str(root), no_scm=True).close()
    return root


@pytest.fixture
def big(tmp_path: Path) -> Path:
    """A folder on "another disk": outside the workspace."""
    (tmp_path / "big" / "features").mkdir(parents=True)
    return tmp_path / "big"


def test_a_plain_workspace_passes_with_its_cache_inside(root):
    assert view.checked(Settings(root=root)) is None


def test_an_output_linked_out_of_the_workspace_is_refused_before_any_build(root, big):
    (root / "outputs" / "features").symlink_to(big / "features")
    with pytest.raises(LinkError) as refused:
        # Forced: no shortcut; a build would come next, and would fail otherwise.
        pipeline.run(Settings(root=root, docker="/nonexistent/docker"), ["repro", "--force"])
    assert str(refused.value) == (
        f"outputs/features links to {big}/features, outside the workspace: the container sees "
        "only the workspace; make it a real folder or file; to keep big data on another disk, "
        "put the DVC cache there (dvc cache dir --local /mnt/big/dvc-cache, then dvc config "
        "--local cache.type symlink) and run dvc checkout"
    )


def test_a_linked_folder_above_or_a_link_under_a_path_is_refused(root, big):
    os.rmdir(root / "outputs")
    (root / "outputs").symlink_to(big)
    (root / "data" / "bureau.csv").symlink_to(big / "bureau.csv")
    with pytest.raises(LinkError, match=r"^data/bureau.csv links to .*, outputs links to "):
        view.checked(Settings(root=root))


def test_a_relative_link_inside_passes_an_absolute_one_is_refused(root):
    (root / "store" / "features").mkdir(parents=True)
    (root / "outputs" / "features").symlink_to("../store/features")
    assert view.checked(Settings(root=root)) is None

    (root / "outputs" / "features").unlink()
    (root / "outputs" / "features").symlink_to(root / "store" / "features")
    with pytest.raises(LinkError) as refused:
        view.checked(Settings(root=root))
    assert str(refused.value) == (
        f"outputs/features links to {root}/store/features: an absolute link leads nowhere in "
        "the container, which sees the workspace at /workspace; make it relative: "
        "ln -sfn ../store/features outputs/features"
    )
    # A workspace at the workdir itself (a project in /workspace) sees it where it links.
    assert view.checked(Settings(root=root, workdir=str(root))) is None


def test_dvcs_links_into_a_cache_outside_are_followed_where_it_is_mounted(root, big):
    with Repo(str(root)) as repo, repo.config.edit("local") as local:
        local["cache"]["dir"] = str(big / "cache")  # as `dvc cache dir --local` sets it
    cached = big / "cache" / "files" / "md5" / "ab" / "cdef"
    cached.parent.mkdir(parents=True)
    cached.write_text("x\n")
    (root / "data" / "raw.csv").unlink()
    (root / "data" / "raw.csv").symlink_to(cached)
    assert view.checked(Settings(root=root)) == big / "cache"


def test_a_broken_dvc_yaml_is_left_to_dvc_in_the_container(root):
    (root / "dvc.yaml").write_text("stages: [")
    assert view.checked(Settings(root=root)) is None
