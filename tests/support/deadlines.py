"""Each test's hard time limit, known to the helpers that wait, so a hung step says which it was.

pytest-timeout stops a test at its limit (`timeout` in pyproject.toml, or a test's own
`@pytest.mark.timeout`), its fixtures' setup included, and prints the stack it hung in. A helper
that starts a command or waits for a server does better a little earlier: it stops the command
and fails with its name and how long it waited. `step_timeout` gives it that bound.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest

# Time left to the test to report a step that ran out, before pytest-timeout stops it.
MARGIN = 15
_deadline: float | None = None


def limit(item: pytest.Item) -> float:
    """The item's time limit in seconds as pytest-timeout applies it (0: none)."""
    marker = item.get_closest_marker("timeout")
    if marker and marker.args:
        return float(marker.args[0])
    option = item.config.getoption("timeout", None)
    return float(option if option is not None else item.config.getini("timeout") or 0)


@contextlib.contextmanager
def running(item: pytest.Item) -> Iterator[None]:
    """While `item` runs (setup, call, teardown), its limit bounds every step's."""
    global _deadline
    seconds = limit(item)
    _deadline = time.monotonic() + seconds if seconds else None
    try:
        yield
    finally:
        _deadline = None


def step_timeout(wanted: float) -> float:
    """How long a step may take: what the caller wants, ending before the test's limit does."""
    if _deadline is None:
        return wanted
    return max(1.0, min(wanted, _deadline - time.monotonic() - MARGIN))


def expired(what: str, waited: float) -> str:
    """The line a step that ran out fails with."""
    return f"{what}: no answer after {waited:.0f} s (the test's time limit is near; it hangs)"
