"""A DVC remote that fails is one line: what happened, and the remedy that fits it."""

from __future__ import annotations

import pytest
from lockstep.images import store


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
