"""The image tags releases give in the registry."""

from __future__ import annotations

import pytest
from lockstep.images import registry


@pytest.mark.parametrize(
    ("release", "tag"),
    [
        ("model/v3", "model-v3"),
        ("model/2026-12@rc1", "model-2026-12-rc1"),
        ("model/v1.2_final", "model-v1.2_final"),
        ("model/" + "x" * 200, ("model-" + "x" * 200)[:128]),
    ],
)
def test_a_release_becomes_a_valid_image_tag(release, tag):
    assert registry.image_tag(release) == tag


REF = "127.0.0.1:5000/credit-model@sha256:" + "a" * 64


@pytest.mark.parametrize(
    "detail",
    [
        'Get "http://127.0.0.1:5000/v2/credit-model/blobs/sha256:e642": dial tcp 127.0.0.1:5000: '
        "connect: connection refused",
        "unexpected EOF",
        "read tcp 127.0.0.1:41234->127.0.0.1:5000: read: connection reset by peer",
    ],
)
def test_a_registry_gone_midway_is_said_so(detail):
    error = registry.failed("pull", REF, detail)
    assert (
        error.message == f"the registry 127.0.0.1:5000 went away during the pull of {REF}: {detail}"
    )
    assert error.hint.startswith("check that the registry 127.0.0.1:5000 is running")
    assert error.hint.endswith("only the layers the engine lacks are fetched")


@pytest.mark.parametrize(
    "detail",
    [
        # The first request: the registry was never there.
        'Error response from daemon: Get "http://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: '
        "connect: connection refused",
        "manifest unknown: manifest unknown",
    ],
)
def test_a_registry_never_reached_or_refusing_is_not_gone(detail):
    assert registry.failed("push", REF, detail) is None


def test_a_push_whose_registry_went_away_says_what_is_sent_again():
    # What docker 20.10 ends with after its retries, for a registry killed during the upload.
    error = registry.failed("push", REF, "dial tcp 127.0.0.1:5000: connect: connection refused")
    assert error.message.startswith("the registry 127.0.0.1:5000 went away during the push of")
    assert error.hint.endswith("only the layers it lacks are sent")
