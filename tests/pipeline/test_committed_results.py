"""The example's committed results name the image this checkout's locks build.

The lesson of an earlier round: the committed lineage named images that only the engine that
made them had, and no test started from the committed state. The image is the environment: its
content key is a function of the locks, the toolchain and the Dockerfile, so a change to any of
them without remaking the results (`./inv repro`, commit) is caught here, before a clone on
another machine finds its rerun rebuilding an image that is not the recorded one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from lockstep import config
from lockstep.images import builder, manifest
from lockstep.records import lineage

REPO = Path(__file__).resolve().parents[2]


def test_every_stage_ran_in_the_one_image_the_committed_locks_build() -> None:
    if not (REPO / lineage.PATH).exists():
        # A project made from the template has no results yet: none may exist without lineage.
        assert not (REPO / "dvc.lock").exists(), f"dvc.lock without {lineage.PATH}"
        return
    settings = config.load(REPO)
    record = lineage.read(REPO / lineage.PATH)
    base = manifest.recorded_base(settings)
    key = builder.content_key(settings, "runtime", base.image)

    environments = [run.environment for run in record.stages.values()]

    assert len(record.images()) == 1, record.images()
    assert {env.image_tag for env in environments} == {f"{settings.image}:{key[:12]}"}, (
        "the image inputs changed since the results were made: run `./inv repro` and commit"
    )
    assert {env.base_image.rsplit("@", 1)[1] for env in environments} == {base.image}
    lock = hashlib.sha256((REPO / "poetry.lock").read_bytes()).hexdigest()
    assert {env.lock_sha256 for env in environments} == {lock}


def test_the_committed_dvc_lock_depends_on_this_checkouts_files() -> None:
    """DVC's own status: no stage's code, params or data differ from what dvc.lock records.

    A kit or example edit without remaking the results would make a fresh clone's `./inv repro`
    rerun stages and leave dvc.lock modified; so would a bytecode cache inside a folder a stage
    depends on, were it not ignored (.dvcignore).
    """
    if not (REPO / "dvc.lock").exists():
        return  # a project made from the template has no results yet
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        status = repo.status()
    # A dependency that is another stage's output not yet pulled (a fresh clone) is "deleted":
    # only one that is here and differs is a result out of date.
    changed = {
        f"{stage}: {path}": why
        for stage, entries in status.items()
        for entry in entries
        if isinstance(entry, dict)
        for path, why in entry.get("changed deps", {}).items()
        if why != "deleted"
    }
    assert not changed, f"run `./inv repro` and commit the results: {changed}"
