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
