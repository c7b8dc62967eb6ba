"""What every tier shares: markers that say what a test needs, and groups for parallel workers.

`./inv test` spreads the suite over pytest-xdist workers with `--dist loadgroup`: a test that
uses one of the expensive session fixtures below runs on the worker that made it, so each is
made once per run, not once per worker; every other test goes to whichever worker is free.
pytest-xdist rather than a runner of our own: it is what pytest users know, it replaces a worker
that dies, and its groups express "these share a fixture" without ordering the tests.
"""

from __future__ import annotations

import pytest

from tests.support import deadlines, offline

# Session fixtures that take a minute or more to make (or that one machine can hold only once):
# a test that uses one runs on the worker that made it. Module-scoped fixtures count too, each
# per module. Cheaper session fixtures (the engine, the project copy, the runtime image, the
# registry) are made on each worker; the image and base behind a lock, so built once.
SHARED = {"slurm_cluster", "history", "second_engine", "ordinary_user"}
# Fixtures that need root, which CI has: another user, another engine, a cluster.
ROOT = {"ordinary_user", "second_engine", "empty_engine", "slurm_cluster"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what each test needs, and group the tests that share an expensive fixture."""
    groups = _Groups()
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.docker)
        if names & ROOT:
            item.add_marker(pytest.mark.root)
        groups.add(item, _shared_fixtures(item))
    for item, group in groups.assigned():
        item.add_marker(pytest.mark.xdist_group(group))


def _shared_fixtures(item: pytest.Item) -> list[str]:
    """The expensive fixtures a test uses, as keys: a name, or a module and a name."""
    info = getattr(item, "_fixtureinfo", None)
    keys = []
    for name in getattr(item, "fixturenames", ()):
        defs = info.name2fixturedefs.get(name) if info else None
        scope = defs[-1].scope if defs else "function"
        if scope in ("module", "package", "class"):
            keys.append(f"{item.path.stem}.{name}")
        elif scope == "session" and name in SHARED:
            keys.append(name)
    return keys


class _Groups:
    """Tests joined when they share a fixture, directly or through others (union-find)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.items: list[tuple[pytest.Item, str]] = []

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def add(self, item: pytest.Item, keys: list[str]) -> None:
        if keys:
            first = self.find(keys[0])
            for key in keys[1:]:
                self.parent[self.find(key)] = first
            self.items.append((item, keys[0]))

    def assigned(self) -> list[tuple[pytest.Item, str]]:
        return [(item, self.find(key)) for item, key in self.items]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item):
    """The test's time limit bounds the steps its helpers wait on (tests/support/deadlines)."""
    with deadlines.running(item):
        return (yield)


@pytest.fixture(autouse=True)
def _hermetic(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unit and pipeline tiers run cut off from the network and Docker (tests/support)."""
    if "integration" not in request.node.path.parts:
        offline.cut(monkeypatch)
