"""The example project's own task, `./inv bench` (see benchmarks/README.md)."""

from __future__ import annotations

from invoke import task
from lockstep.tasks import guard, root


@task(
    name="bench",
    help={"quick": "a small version: one cold build each, a smaller extract, fewer runs"},
)
def bench_(c, quick=False):
    """Benchmark the kit against the naive Poetry-in-Docker recipe and native runs."""
    # Here rather than at the top: every task, `--list` included, loads this module.
    from benchmarks import bench

    results = guard(bench.run, bench.QUICK if quick else bench.FULL, source=root(c))
    print(bench.table(results))
    print(f"results written to {bench.RESULTS.relative_to(root(c))}")
