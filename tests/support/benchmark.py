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


def tiny_plan(bench: ModuleType, rows_per_month: int):
    """The plan of the tests: every figure, on tiny inputs, with the caches on."""
    return bench.Plan(
        name="test",
        repeats=1,
        build_repeats=1,
        pipeline_repeats=1,
        rows_per_month=rows_per_month,
        sizes=(1,),
        profile_sizes=(1,),
        cold=False,  # caches on: a cold build takes minutes
        versions=2,
        reproducible=False,  # a cold build; test_fresh_machine compares ids across engines
        scale_bytes=(3 * bench.MB, bench.MB),  # the order of the plan's sizes is no matter
    )
