"""The benchmark's scale figure on tiny inputs: each size through every step, and its table.

Apart from test_bench.py's harness, so that the two run on two workers at once. Timings and
memory are never asserted, only that each was measured.
"""

from __future__ import annotations

import pytest
from lockstep import config, engines

from tests.support import benchmark

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def bench():
    with benchmark.imported() as module:
        yield module


def test_the_scale_figure_takes_each_size_through_every_step(kit, bench, tmp_path) -> None:
    plan = benchmark.tiny_plan(bench, kit.rows_per_month // 10)
    settings = config.load(kit.repo)
    engine = engines.find(settings.docker_cli())
    measure = bench.Bench(plan, engine, bench.Project.copy_of(kit.repo, tmp_path), print)
    try:
        measure.warm_image()  # the session's image: found, not built
        figure, scale = measure.scale()
    finally:
        measure.cleanup(settings)

    assert [run["bytes"] for run in scale.values()] == [bench.MB, 3 * bench.MB], scale
    for run in scale.values():
        assert list(run["steps"]) == list(bench.SCALE_STEPS), run
        assert all(s["seconds"] > 0 and s["peak_mib"] > 0 for s in run["steps"].values()), run
    memory = figure.as_json()
    assert memory["checks"] == {"the stage read every byte": True}, memory
    assert set(memory["raw"]["step_ratios"]) == set(bench.KIT_STEPS)
    assert memory["raw"]["peak_mib"] == {
        name: max(run["steps"][step]["peak_mib"] for step in bench.KIT_STEPS)
        for name, run in scale.items()
    }
    table = "\n".join(bench.scale_table(scale))
    assert "| step | time at 1 MB (s) | time at 3 MB (s) |" in table
    assert all(f"| {step} | " in table for step in bench.SCALE_STEPS)
