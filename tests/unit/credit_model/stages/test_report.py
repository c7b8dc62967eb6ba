"""Unit tests for the report stage: the page's content, its bytes, and how a browser shows it."""

from __future__ import annotations

import hashlib
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from credit_model import charts, io
from credit_model.definitions import DEFINITIONS
from credit_model.stages import evaluate, report, train
from credit_model.stages.features import TARGET
from tests.support import browser
from tests.unit.credit_model.conftest import PARAMS

MONTHS = ["2024-01", "2024-02", "2024-03"]


def fixed_inputs() -> dict:
    """Small fixed tables in the shapes evaluate writes: the page without running a model."""
    grid = np.linspace(0, 1, 21)
    plots = {
        "roc": pd.DataFrame({"fpr": grid, "tpr": np.sqrt(grid)}),
        "calibration": pd.DataFrame(
            {
                "bin": [1, 2, 3, 4, 5],
                "predicted": [0.02, 0.04, 0.06, 0.10, 0.20],
                "observed": [0.01, 0.05, 0.07, 0.09, 0.22],
                "rows": [100] * 5,
            }
        ),
        "scores": pd.DataFrame(
            {
                "score": [500.0, 520.0, 540.0, 560.0],
                "goods": [0.1, 0.2, 0.3, 0.4],
                "defaulters": [0.4, 0.3, 0.2, 0.1],
            }
        ),
        "months": pd.DataFrame(
            {
                "month": MONTHS,
                "rows": [100, 100, 100],
                "observed": [0.08, 0.09, 0.11],
                "predicted": [0.08, 0.085, 0.09],
            }
        ),
    }
    metrics = {
        "auc": 0.7712,
        "gini": 0.5424,
        "ks": 0.41,
        "brier": 0.0702,
        "log_loss": 0.2553,
        "default_rate": 0.0933,
        "predicted_rate": 0.0883,
        "rows": 300,
        "months": MONTHS,
    }
    frame = pd.DataFrame({"month": ["2023-12"] * 4 + MONTHS, TARGET: [0, 1, 0, 0, 1, 0, 0]})
    sets = {"training": frame.iloc[:4], "out-of-time test": frame.iloc[4:]}
    environment = {
        "fingerprint": "f" * 64,
        "image": {
            "id": "sha256:" + "e" * 64,
            "sbom": "sha256:" + "b" * 64,
            "debian_packages": 126,
            "python_distributions": 106,
        },
        "lock_sha256": "a" * 64,
        "python": "3.11",
        "libraries": {"numpy": "2.4.6", "matplotlib": "3.11.2"},
    }
    settings = {section: PARAMS[section] for section in report.SECTIONS}
    return {
        "metrics": metrics,
        "plots": plots,
        "data_window": report.window(sets),
        "settings": settings,
        "env": environment,
    }


@pytest.fixture(scope="module")
def page() -> str:
    return report.render(**fixed_inputs())


def test_the_same_inputs_give_the_same_bytes(page: str) -> None:
    assert report.render(**fixed_inputs()) == page


def test_the_page_has_no_timestamp(page: str) -> None:
    assert "<dc:date>" not in page
    assert not re.search(r"\b20\d\d-\d\d-\d\d[T ]\d\d:\d\d", page)


def test_every_chart_is_inline_svg_with_ids_of_its_own(page: str) -> None:
    assert page.count("<svg") == len(charts.DRAW)
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "two elements share an id"


def test_the_page_loads_nothing(page: str) -> None:
    # Links inside the page (#id) only; no script, no stylesheet, no image from anywhere.
    assert re.findall(r'(?:src|href)="(?!#)[^"]*"', page) == []
    assert "<script" not in page and "<link" not in page
    assert "default-src 'none'" in page


def test_every_metric_is_shown_with_its_definition(page: str) -> None:
    for name, definition in DEFINITIONS.items():
        assert f"<th>{name}</th>" in page
        assert definition.replace("'", "&#39;") in page
    assert "0.7712" in page and '<td class="number">300</td>' in page


def test_the_window_params_and_environment_are_shown(page: str) -> None:
    assert "<th>training</th><td>2023-12</td><td>2023-12</td>" in page
    assert "<th>out-of-time test</th><td>2024-01</td><td>2024-03</td>" in page
    assert '<td>learning_rate</td><td class="number">0.1</td>' in page
    assert "f" * 64 in page and "a" * 64 in page
    assert "<th>matplotlib</th><td>3.11.2</td>" in page


def test_the_image_and_its_sbom_summary_are_shown(page: str) -> None:
    assert f"<code>sha256:{'e' * 64}</code>" in page
    assert "126 Debian packages, 106 Python distributions" in page
    assert f"reports/sbom/{'e' * 12}.cdx.json" in page and "b" * 64 in page


def test_a_page_before_any_build_says_how_to_record_the_image() -> None:
    inputs = fixed_inputs()
    inputs["env"]["image"] = None
    assert "not built yet (<code>./inv build</code> records it)" in report.render(**inputs)


def test_values_are_escaped() -> None:
    inputs = fixed_inputs()
    inputs["settings"]["ingest"] = {**inputs["settings"]["ingest"], "seed": "<script>x</script>"}
    page = report.render(**inputs)
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page


def test_window_counts_rows_and_defaults() -> None:
    frame = pd.DataFrame({"month": ["2024-02", "2024-01", "2024-02"], TARGET: [1, 0, 1]})
    (row,) = report.window({"test": frame})
    assert row == {
        "set": "test",
        "first": "2024-01",
        "last": "2024-02",
        "months": 2,
        "rows": 3,
        "defaults": 2,
    }


def test_environment_is_read_from_the_stages_inputs(tmp_path: Path) -> None:
    lock = tmp_path / "poetry.lock"
    lock.write_text("# a lock\n")
    found = report.environment({"fingerprint": "abc"}, lock)
    assert found["fingerprint"] == "abc"
    assert found["image"] is None
    assert found["lock_sha256"] == hashlib.sha256(b"# a lock\n").hexdigest()
    assert found["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert set(found["libraries"]) == set(report.KEY_LIBRARIES)


def run_main(folder: Path, model, split, params: Path) -> bytes:
    """evaluate's and the report's main, as dvc.yaml runs them; the page's bytes."""
    train.save(folder / "model.pkl", model)
    for name, frame in zip(("train", "test"), split, strict=True):
        io.write_parquet(folder / f"{name}.parquet", frame)
    metrics, plots = folder / "metrics.json", folder / "plots"
    argv = ["--model", str(folder / "model.pkl"), "--test", str(folder / "test.parquet")]
    assert evaluate.main([*argv, "--metrics", str(metrics), "--plots", str(plots)]) == 0
    (folder / "environment.yaml").write_text(yaml.safe_dump({"fingerprint": "0" * 64}))
    (folder / "poetry.lock").write_text("# the lock\n")
    argv = ["--metrics", str(metrics), "--plots", str(plots), "--params", str(params)]
    argv += ["--train", str(folder / "train.parquet"), "--test", str(folder / "test.parquet")]
    argv += ["--environment", str(folder / "environment.yaml")]
    argv += ["--lock", str(folder / "poetry.lock")]
    out = folder / "reports" / "report.html"
    started = time.perf_counter()
    assert report.main([*argv, "--out", str(out)]) == 0
    print(f"report: {out.stat().st_size} bytes in {time.perf_counter() - started:.2f} s")
    return out.read_bytes()


def test_main_writes_the_same_page_twice(tmp_path: Path, write_params, model, split) -> None:
    params = write_params()
    first = run_main(tmp_path / "first", model, split, params)
    assert run_main(tmp_path / "second", model, split, params) == first
    assert first.startswith(b"<!DOCTYPE html>")


# In a real browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shown(page: str, tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(page)
    with browser.offline(path) as visit:
        yield visit


def test_the_browser_draws_every_chart(shown: browser.Visit) -> None:
    browser.assert_charts_drawn(shown, len(charts.DRAW))


def test_the_browser_reports_no_error_and_no_request(shown: browser.Visit) -> None:
    browser.assert_quiet(shown)


def test_the_screenshot_is_not_blank(shown: browser.Visit) -> None:
    browser.assert_not_blank(shown)


def test_the_page_fits_a_phones_width(shown: browser.Visit) -> None:
    browser.assert_fits(shown)
