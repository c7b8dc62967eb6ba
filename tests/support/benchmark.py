"""benchmarks/bench.py for the tests, imported from its file (benchmarks/ is not on sys.path)."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"


@contextlib.contextmanager
def imported() -> Iterator[ModuleType]:
    """The module, under a name of its own while the context lasts."""
    spec = importlib.util.spec_from_file_location("lockstep_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    try:
        yield module
    finally:
        del sys.modules[spec.name]
