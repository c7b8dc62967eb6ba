"""The benchmark harness runs every figure end to end on tiny inputs.

Only the harness is checked: what results.json holds and that its checks hold (dependency layers
reused, no build started, nothing rerun, identical outputs). Timings are never asserted.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.support import benchmark

# Every figure of the benchmark, on tiny inputs: builds and pipelines, minutes.
pytestmark = [pytest.mark.docker, pytest.mark.slow]

FIGURES = {
    "fresh_machine",
    "cold_build",
    "cold_build_uv",
    "source_rebuild",
    "noop_build",
    "noop_repro",
    "pipeline_1x",
    "size_vs_baseline",
    "size_vs_floor",
    "remote_storage",
    "remote_lock_bump",
    "bump_rebuild",
}


@pytest.fixture(scope="module")
def bench():
    with benchmark.imported() as module:
        yield module


def test_the_harness_measures_every_figure(kit, bench, tmp_path) -> None:
    # The scale figure is test_scale.py's, on another worker: together they took 10 minutes.
    plan = dataclasses.replace(benchmark.tiny_plan(bench, kit.rows_per_month // 10), scale_bytes=())
    out = tmp_path / "results.json"

    results = bench.run(plan, source=kit.repo, out=out)

    assert json.loads(out.read_text()) == json.loads(json.dumps(results))
    assert results["schema"] == bench.SCHEMA_VERSION
    assert results["machine"]["cpus"] >= 1 and results["machine"]["docker"]
    assert results["plan"]["name"] == "test"
    figures = results["figures"]
    assert set(figures) == FIGURES
    for key, figure in figures.items():
        if figure["value"] is None:  # not measured here
            assert figure["met"] is None and key == "fresh_machine", figure
        elif figure["goal"] is None:  # information only
            assert figure["met"] is (None if all(figure["checks"].values()) else False)
        else:
            assert figure["met"] == (
                figure["value"] <= figure["goal"] and all(figure["checks"].values())
            )
        timings = [v for name, v in figure["raw"].items() if name.endswith("_s")]
        assert key.startswith(("size", "remote", "fresh")) or timings, key
        timings = [v if isinstance(v, list) else [v] for v in timings]
        assert all(values and all(v > 0 for v in values) for values in timings), figure["raw"]
    assert figures["source_rebuild"]["checks"] == {"no distribution installed again": True}
    uv = figures["cold_build_uv"]
    assert uv["checks"] == {"same distributions as ours": True}, uv["raw"]
    assert uv["raw"]["ours_s"] == figures["cold_build"]["raw"]["ours_s"]
    assert uv["raw"]["distributions"] > 0
    assert figures["size_vs_baseline"]["goal"] is None
    assert figures["size_vs_baseline"]["raw"]["uv_baseline_bytes"] > 0
    assert figures["noop_build"]["checks"] == {
        "no build started": True,
        "answered from the record": True,
    }
    assert figures["noop_repro"]["checks"] == {"nothing ran": True}
    assert figures["pipeline_1x"]["checks"] == {"identical outputs": True}
    assert figures["pipeline_1x"]["raw"]["rows_per_month"] == plan.rows_per_month
    storage = figures["remote_storage"]["raw"]
    one, two = storage["remote_bytes_after_each"]
    # Versions that differ in source only are one image (it holds no source): nothing to add.
    assert one > storage["image_bytes"] / 2 and two == one, storage
    bump = figures["remote_lock_bump"]
    assert bump["checks"] == {"no other distribution installed": True}, bump
    assert 0 < bump["raw"]["added_bytes"] < one / 10, bump
    assert figures["bump_rebuild"]["raw"]["bump"].startswith("tqdm ")
    sizes = figures["size_vs_floor"]["raw"]
    assert 0 < sizes["base_bytes"] < sizes["floor_bytes"] and sizes["packages_bytes"] > 0

    fresh = figures["fresh_machine"]
    assert fresh["value"] is None or fresh["checks"] == {"reproduced": True, "about 40 lines": True}

    stages = results["stages"]["1x"]["stages"]
    assert list(stages) == ["ingest", "features", "train", "evaluate", "report"]
    assert all(s["median_s"] > 0 and s["peak_mib_max"] > 0 for s in stages.values())

    assert results["scale"] == {}

    table = bench.table(results)
    assert all(figure["title"] in table for figure in figures.values())
    size_row = next(
        line for line in table.splitlines() if figures["size_vs_baseline"]["title"] in line
    )
    assert size_row.endswith("| - | - |"), size_row
    leftovers = kit.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert results["removed_images"] and not set(results["removed_images"]) & set(leftovers)


def test_the_fresh_machine_figure_is_what_its_command_wrote(bench, tmp_path) -> None:
    result = tmp_path / "fresh-machine.json"
    assert bench.fresh_machine(result).value is None
    result.write_text('{"seconds": 71.5, "exit": 0, "lines": 38, "measured": "2026-12-06"}')
    figure = bench.fresh_machine(result)
    assert (figure.value, figure.goal, figure.met) == (71.5, 75.0, True)
    result.write_text('{"seconds": 60, "exit": 1, "lines": 12, "measured": "2026-12-06"}')
    assert bench.fresh_machine(result).met is False
