"""Fixtures for the Docker integration tests: the real engine, project copies, images, servers.

Every test here runs against the real Docker engine. A missing engine fails the tests with a
clear message; it never skips them. The helpers live in tests/support.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

# The reaper container testcontainers starts comes from a registry that is unreachable here.
os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
# A suite started in the background (`.ci/run &`) inherits an ignored SIGINT, and so would every
# command it starts: the Ctrl-C tests need the default, which a handled signal gives a child.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import pytest
from lockstep import config, engines
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import LockstepError
from lockstep.images import builder
from lockstep.run import pipeline

from tests.support import machines
from tests.support.projects import Kit
from tests.support.registry import Registry
from tests.support.slurm import Cluster

ORDINARY_USER = "lockstep-user"


@pytest.fixture(scope="session", autouse=True)
def engine() -> Engine:
    """The docker CLI the kit uses; the integration tests fail (never skip) without it."""
    try:
        return engines.find(os.environ.get("LOCKSTEP_DOCKER", ""))
    except LockstepError as exc:
        problem = str(exc)
    pytest.fail(
        f"the Docker integration tests need a Docker engine with BuildKit: {problem}",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def ordinary_user() -> pwd.struct_passwd:
    """A user with no special rights and its own /etc/subuid range (root only)."""
    machines.require_root("compares root with an ordinary user")
    return machines.plain_user(ORDINARY_USER)


@pytest.fixture(scope="session")
def second_engine() -> Iterator[machines.SecondEngine]:
    """An empty Docker engine beside the first, for fresh-machine tests (root only)."""
    machines.require_root("starts a second Docker engine")
    with machines.SecondEngine() as engine:
        yield engine


@pytest.fixture
def empty_engine() -> Iterator[machines.SecondEngine]:
    """A new, empty Docker engine for one test (root only): a machine without this one's
    images. A test that needs an image to be missing uses it rather than removing an image
    from the engine every worker shares."""
    machines.require_root("starts a Docker engine of its own")
    with machines.SecondEngine() as engine:
        yield engine


@pytest.fixture(scope="session")
def kit(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kit]:
    helpers = Kit(engine, tmp_path_factory)
    yield helpers
    helpers.cleanup()


@pytest.fixture(scope="session")
def project(kit: Kit) -> Path:
    """A pristine copy of the project, shared by the tests that only read it."""
    return kit.copy("project")


@pytest.fixture(scope="session")
def settings(project: Path) -> Settings:
    return config.load(project)


@pytest.fixture(scope="session")
def runtime_image(settings: Settings) -> builder.Image:
    """The runtime image of the current sources, built once (or reused) for the session.

    Built by one worker while the others wait: they then find it by its content."""
    with machines.host_lock("images"):
        _, image = pipeline.build(settings)
    return image


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Debian's docker-registry on 127.0.0.1 at a free port, for the whole session."""
    folder = tmp_path_factory.mktemp("registry")
    server = Registry(folder).start()
    yield server
    server.stop()
    shutil.rmtree(folder / "data", ignore_errors=True)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[Cluster]:
    """A one-node Slurm cluster of the session's own (root only); clients need its env()."""
    cluster = Cluster().start()
    yield cluster
    cluster.stop()
