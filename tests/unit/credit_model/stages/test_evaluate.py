"""Unit tests for the evaluate stage: metrics, plot tables and deterministic outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_model import io
from credit_model.definitions import DEFINITIONS
from credit_model.params import Evaluate
from credit_model.stages import evaluate, train
from credit_model.stages.features import TARGET

Result = tuple[dict, dict[str, pd.DataFrame]]


@pytest.fixture(scope="module")
def result(model, split: tuple[pd.DataFrame, pd.DataFrame], evaluate_settings: Evaluate) -> Result:
    return evaluate.run(model, split[1], evaluate_settings)


def test_metrics_are_in_range(result: Result, split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    summary, _ = result
    assert 0.5 < summary["auc"] <= 1
    assert 0 < summary["ks"] <= 1
    assert 0 <= summary["brier"] <= 0.25
    assert summary["log_loss"] > 0
    assert 0 < summary["default_rate"] < 1
    assert 0 < summary["predicted_rate"] < 1
    assert summary["rows"] == len(split[1])
    assert summary["default_rate"] == pytest.approx(split[1][TARGET].mean(), abs=1e-6)


def test_gini_is_twice_auc_minus_one(result: Result) -> None:
    summary, _ = result
    assert summary["gini"] == pytest.approx(2 * summary["auc"] - 1, abs=2e-6)


def test_metrics_name_the_test_months(
    result: Result, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    assert result[0]["months"] == sorted(split[1]["month"].unique())


def test_metrics_serialise_to_json(result: Result) -> None:
    assert json.loads(json.dumps(result[0])) == result[0]


def test_calibration_table(
    result: Result, split: tuple[pd.DataFrame, pd.DataFrame], evaluate_settings: Evaluate
) -> None:
    table = result[1]["calibration"]
    assert len(table) == evaluate_settings.calibration_bins
    assert list(table["bin"]) == list(range(1, evaluate_settings.calibration_bins + 1))
    assert table["rows"].sum() == len(split[1])
    assert table["predicted"].is_monotonic_increasing
    assert table["observed"].between(0, 1).all()
    weighted = (table["observed"] * table["rows"]).sum() / table["rows"].sum()
    assert weighted == pytest.approx(split[1][TARGET].mean())


def test_roc_table(result: Result) -> None:
    table = result[1]["roc"]
    assert len(table) == evaluate.ROC_POINTS
    assert (table["fpr"].iloc[0], table["tpr"].iloc[0]) == (0.0, 0.0)
    assert (table["fpr"].iloc[-1], table["tpr"].iloc[-1]) == (1.0, 1.0)
    assert table["fpr"].is_monotonic_increasing
    assert table["tpr"].is_monotonic_increasing


def test_score_table(result: Result, evaluate_settings: Evaluate) -> None:
    table = result[1]["scores"]
    assert len(table) == evaluate_settings.score_bins
    assert table["goods"].sum() == pytest.approx(1)
    assert table["defaulters"].sum() == pytest.approx(1)
    assert table["score"].is_monotonic_increasing


def test_month_table(result: Result, split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    table = result[1]["months"]
    test = split[1]
    assert list(table.columns) == ["month", "rows", "observed", "predicted"]
    assert list(table["month"]) == sorted(test["month"].unique())
    assert table["rows"].sum() == len(test)
    observed = test.groupby("month")[TARGET].mean()
    np.testing.assert_allclose(table["observed"], observed.to_numpy())
    assert table["predicted"].between(0, 1).all()


def test_every_metric_has_a_definition(result: Result) -> None:
    assert list(DEFINITIONS) == [key for key in result[0] if key != "months"]


def test_score_is_higher_for_safer_applicants() -> None:
    points = evaluate.score(np.array([0.5, 0.1, 1 / 51, 0.001]))
    assert np.all(np.diff(points) > 0)
    assert points[2] == pytest.approx(evaluate.SCORE_OFFSET)


def test_score_doubles_odds_every_points_to_double() -> None:
    # odds good:bad 50 -> 100
    points = evaluate.score(np.array([1 / 51, 1 / 101]))
    assert points[1] - points[0] == pytest.approx(evaluate.POINTS_TO_DOUBLE)


def test_perfect_model_metrics() -> None:
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    summary = evaluate.metrics(y, p)
    assert summary["auc"] == 1.0
    assert summary["gini"] == 1.0
    assert summary["ks"] == 1.0
    assert summary["rows"] == 5


def run_main(model, test: pd.DataFrame, params: Path, out: Path) -> dict[str, bytes]:
    train.save(out / "model.pkl", model)
    io.write_parquet(out / "test.parquet", test)
    argv = ["--model", str(out / "model.pkl"), "--test", str(out / "test.parquet")]
    argv += ["--metrics", str(out / "reports" / "metrics.json"), "--plots", str(out / "plots")]
    assert evaluate.main([*argv, "--params", str(params)]) == 0
    written = [out / "reports" / "metrics.json", *sorted((out / "plots").iterdir())]
    return {str(path.relative_to(out)): path.read_bytes() for path in written}


def test_main_writes_outputs_deterministically(
    tmp_path: Path, write_params, model, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    params = write_params()
    first = run_main(model, split[1], params, tmp_path / "first")
    second = run_main(model, split[1], params, tmp_path / "second")
    again = run_main(model, split[1], params, tmp_path / "first")
    assert sorted(first) == [
        "plots/calibration.csv",
        "plots/months.csv",
        "plots/roc.csv",
        "plots/scores.csv",
        "reports/metrics.json",
    ]
    assert first == second == again


def test_main_outputs_match_run(
    tmp_path: Path,
    write_params,
    model,
    split: tuple[pd.DataFrame, pd.DataFrame],
    result: Result,
) -> None:
    files = run_main(model, split[1], write_params(), tmp_path)
    assert json.loads(files["reports/metrics.json"]) == result[0]
    assert files["reports/metrics.json"].endswith(b"\n")
    roc = pd.read_csv(tmp_path / "plots" / "roc.csv")
    assert list(roc.columns) == ["fpr", "tpr"]
    np.testing.assert_allclose(roc.to_numpy(), result[1]["roc"].to_numpy(), atol=1e-6)
