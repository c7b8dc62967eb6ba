"""A DVC remote that fails is one line; a damaged DVC cache is named, and nothing of it sent."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from lockstep import dvccache
from lockstep.engines import Engine
from lockstep.errors import DamagedCacheError
from lockstep.images import store

from tests.unit.lockstep.conftest import cache_file, dvc, rot
from tests.unit.lockstep.images.test_layout import IMAGE_ID, LAYER, make_layout

DATA = b"month,score\n2024-01,612\n2024-02,640\n"


@pytest.mark.parametrize(
    ("detail", "hint"),
    [
        (
            "ERROR: unexpected error - Permission denied for user dvc on host 127.0.0.1",
            "check the remote's key: dvc remote modify --local",
        ),
        ("[Errno 28] No space left on device", "free space on the remote"),
        (
            "ERROR: failed to push data to the cloud - 1 files failed to upload",
            "the remote refused them: check its free space and permissions",
        ),
        ("unexpected error - [Errno 111] Connect call failed", "check that the remote is"),
        ("1 files failed to download", "check that the remote is reachable"),
        ("something else entirely", "check the remote with dvc remote list"),
    ],
)
def test_each_failure_gets_its_remedy(tmp_path, detail, hint):
    error = store.remote_error("push to", tmp_path, detail)
    assert error.message.startswith("cannot push to the DVC remote")
    assert "ERROR:" not in error.message and "unexpected error" not in error.message
    assert error.hint.startswith(hint)


def test_only_the_last_line_of_a_long_error_is_kept(tmp_path):
    error = store.remote_error("fetch from", tmp_path, "first line\nthe cause\n")
    assert error.message.endswith(": the cause")


def remote_files(remote: Path) -> dict[str, bytes]:
    """What the remote folder holds, by name."""
    return {p.name: p.read_bytes() for p in remote.rglob("*") if p.is_file()}


def test_a_damaged_file_in_the_cache_is_never_sent_and_the_next_publish_sends_it(dvc_project):
    root = dvc_project
    (root / "data").mkdir()
    (root / "data/applications.csv").write_bytes(DATA)
    dvc(root, "add", "data/applications.csv")
    rot(cache_file(root, DATA))

    with pytest.raises(DamagedCacheError) as caught:
        store.push(root, [])

    assert str(caught.value) == (
        f"the DVC cache's copy of data/applications.csv is damaged: {cache_file(root, DATA)} no "
        "longer hashes to its name; removed it from the cache; the workspace's "
        "data/applications.csv is intact: `dvc commit --force data/applications.csv` stores it "
        "again, then publish again"
    )
    assert remote_files(root.parent / "remote") == {}  # nothing was sent
    dvc(root, "commit", "--force", "data/applications.csv")
    store.push(root, [])
    assert list(remote_files(root.parent / "remote").values()) == [DATA]


def test_a_damaged_folder_listing_is_named_and_listed_again(dvc_project):
    root = dvc_project
    (root / "plots").mkdir()
    (root / "plots/roc.csv").write_bytes(DATA)
    dvc(root, "add", "plots")
    listing = next((root / ".dvc/cache/files/md5").glob("*/*.dir"))
    rot(listing)

    with pytest.raises(DamagedCacheError, match=r"copy of plots is damaged: .*\.dir no") as caught:
        store.push(root, [])

    assert caught.value.hint == (
        "`dvc commit --force plots` lists the workspace's folder again, then publish again"
    )
    dvc(root, "commit", "--force", "plots")
    store.push(root, [])
    assert DATA in remote_files(root.parent / "remote").values()


def test_a_damaged_layer_of_an_image_layout_is_named_and_fetched_again(dvc_project):
    root = dvc_project
    make_layout(root / store.path_for(IMAGE_ID))
    dvc(root, "add", store.path_for(IMAGE_ID))
    shutil.rmtree(root / store.path_for(IMAGE_ID))  # as `invoke publish` leaves it
    store.push(root, [root / store.dvc_file_for(IMAGE_ID)])
    rot(cache_file(root, LAYER), offset=7)
    engine = Loading(root.parent)

    with pytest.raises(DamagedCacheError) as caught:
        store.load(root, engine, IMAGE_ID, [None])

    layer = f"{store.path_for(IMAGE_ID)}/blobs/sha256/{hashlib.sha256(LAYER).hexdigest()}"
    assert str(caught.value) == (
        f"the DVC cache's copy of {layer} is damaged: {cache_file(root, LAYER)} no longer "
        f"hashes to its name; removed it from the cache; {dvccache.FETCH_AGAIN}"
    )
    assert not engine.loaded.exists()
    store.load(root, engine, IMAGE_ID, [None])
    assert LAYER in engine.loaded.read_bytes()


def test_a_damaged_layer_not_yet_sent_is_named_with_the_way_to_write_it_again(dvc_project):
    root = dvc_project
    make_layout(root / store.path_for(IMAGE_ID))
    dvc(root, "add", store.path_for(IMAGE_ID))
    rot(cache_file(root, LAYER))

    with pytest.raises(DamagedCacheError, match=r"copy of images/.*/blobs/sha256/") as caught:
        store.push(root, [root / store.dvc_file_for(IMAGE_ID)])

    assert caught.value.hint == (
        f"delete {store.dvc_file_for(IMAGE_ID)} and publish again: it writes the layout again "
        "from the engine"
    )
    assert remote_files(root.parent / "remote") == {}


class Loading(Engine):
    """An engine whose CLI takes `docker load`'s input into a file, and then has the image."""

    def __init__(self, folder: Path) -> None:
        cli = folder / "docker"
        cli.write_text(f"#!/bin/sh\ncat > {folder / 'loaded.tar'}\n")
        cli.chmod(0o755)
        super().__init__(str(cli))

    @property
    def loaded(self) -> Path:
        return Path(self.cli).with_name("loaded.tar")

    def image_id(self, ref: str) -> str | None:
        return ref if self.loaded.exists() else None


@pytest.mark.parametrize(
    ("action", "log", "cause"),
    [
        (
            "push to",
            "ERROR: failed to transfer '3f2a' - Connection lost\n"
            "ERROR: failed to transfer '5e1b' - Connection not open\n"
            "ERROR: failed to push data to the cloud - 2 files failed to upload",
            "push: Connection lost (2 files failed to upload;",
        ),
        (
            "fetch from",
            "failed to transfer '3f2a' - [Errno 32] Broken pipe\n43 files failed to download",
            "fetch: [Errno 32] Broken pipe (43 files failed to download;",
        ),
    ],
)
def test_a_remote_gone_midway_is_said_so_with_its_cause(tmp_path, action, log, cause):
    error = store.remote_error(action, tmp_path, log)
    assert error.message.startswith("the DVC remote '")
    assert f"' went away during the {cause} what arrived whole is kept)" in error.message
    assert error.hint.startswith("check that it is reachable")
    assert error.hint.endswith(
        "only what is missing is " + ("sent" if "push" in action else "fetched")
    )


def test_a_file_refused_is_not_a_remote_gone(tmp_path):
    log = "failed to transfer '3f2a' - Failure\n1 files failed to upload"
    error = store.remote_error("push to", tmp_path, log)
    assert error.message.endswith(": 1 files failed to upload")
    assert error.hint.startswith("the remote refused them")


def test_a_remote_gone_with_no_file_counted_says_its_cause_once(tmp_path):
    error = store.remote_error("fetch from", tmp_path, "Connection not open")
    assert error.message.endswith(
        "went away during the fetch: Connection not open (what arrived whole is kept)"
    )


def test_a_remote_gone_while_a_listing_is_read_says_the_first_cause(tmp_path):
    # DVC's API: one file's cause logged, then the SSH library's own error, uncounted.
    log = "failed to transfer '3f2a' - [Errno 32] Broken pipe\nConnection not open"
    error = store.remote_error("fetch from", tmp_path, log)
    assert error.message.endswith("fetch: [Errno 32] Broken pipe (what arrived whole is kept)")
