"""`lockstep.dvccache` on real DVC repositories: DVC trusts its cache, the kit hashes it again."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from lockstep import dvccache
from lockstep.errors import DamagedCacheError

from tests.unit.lockstep.conftest import cache_file, dvc, rot

DATA = b"month,score\n2024-01,612\n"


def test_a_file_dvc_still_trusts_is_found_damaged_and_removed(dvc_project: Path) -> None:
    from dvc.repo import Repo

    (dvc_project / "raw.csv").write_bytes(DATA)
    dvc(dvc_project, "add", "raw.csv")
    cached = cache_file(dvc_project, DATA)
    rot(cached)

    with Repo(str(dvc_project)) as repo:
        repo.cache.local.check(hashlib.md5(DATA).hexdigest())  # DVC's own: read-only, so fine
        with pytest.raises(DamagedCacheError) as caught:
            dvccache.check(repo, dvccache.used(repo, []), lambda damaged: damaged.obj_name)

    assert caught.value.message.startswith(f"the DVC cache's copy of raw.csv is damaged: {cached}")
    assert caught.value.hint == "raw.csv"
    assert not cached.exists()


def test_only_what_the_remote_lacks_is_checked(dvc_project: Path) -> None:
    """A publish reads what it sends, not the whole cache again: the remote has this one."""
    (dvc_project / "raw.csv").write_bytes(DATA)
    dvc(dvc_project, "add", "raw.csv")
    dvc(dvc_project, "push")
    rot(cache_file(dvc_project, DATA))

    dvccache.check_unsent(dvc_project, [], lambda damaged: "")

    assert cache_file(dvc_project, DATA).exists()
