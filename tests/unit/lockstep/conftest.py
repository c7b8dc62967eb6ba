"""What the kit's unit tests share: a lineage environment to vary."""

from __future__ import annotations

import dataclasses

import pytest
from lockstep.lineage import Environment

ENVIRONMENT = Environment(
    where="container",
    image_id="sha256:1",
    image_tag="img:1",
    registry_digest=None,
    registry_repository=None,
    fingerprint="f",
    lock_sha256="l",
    base_image="b",
    commit="c",
    dirty=False,
    dvc_version="3",
    python_version="3.11",
)


@pytest.fixture
def environment():
    """A factory: the environment of a container run, with any fields changed."""
    return lambda **changes: dataclasses.replace(ENVIRONMENT, **changes)
