"""Unit tests for credit_model.params: impossible values, and stages refusing bad params."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from lockstep.errors import ParamsError
from lockstep.runtime.months import index as month_index
from lockstep.runtime.months import name as month_name

from credit_model import io, params
from credit_model.stages import evaluate, features, ingest, train

REPO_PARAMS = Path(__file__).resolve().parents[3] / "params.yaml"


def test_repo_params_file_is_valid() -> None:
    params.check(REPO_PARAMS)


def test_repo_params_load_each_section() -> None:
    for section, schema in params.SECTIONS.items():
        assert isinstance(params.load(REPO_PARAMS, section), schema)


@pytest.mark.parametrize("month", ["2024-01", "1999-12", "0001-01"])
def test_month_index_round_trips(month: str) -> None:
    assert month_name(month_index(month)) == month


def test_month_index_counts_months() -> None:
    assert month_index("2024-01") - month_index("2023-12") == 1
    assert month_index("2024-12") - month_index("2024-01") == 11


@pytest.mark.parametrize(
    "month", ["2024-13", "2024-00", "24-01", "2024-1", "2024/01", "202401", "2024-01-01", ""]
)
def test_month_index_refuses_malformed(month: str) -> None:
    with pytest.raises(ValueError):
        month_index(month)


def test_ingest_months_are_inclusive_and_ordered(write_params: Callable[..., Path]) -> None:
    path = write_params(ingest={"first_month": "2023-11", "as_of": "2024-02"})
    settings = params.load(path, "ingest")
    assert settings.months == ["2023-11", "2023-12", "2024-01", "2024-02"]


def test_ingest_single_month_is_allowed(write_params: Callable[..., Path]) -> None:
    path = write_params(ingest={"first_month": "2024-03", "as_of": "2024-03"})
    assert params.load(path, "ingest").months == ["2024-03"]


@pytest.mark.parametrize(
    ("section", "values", "key", "expected"),
    [
        ("ingest", {"as_of": "2020-12", "first_month": "2021-01"}, "as_of", "not before"),
        ("ingest", {"rows_per_month": 0}, "rows_per_month", "a positive number"),
        ("ingest", {"rows_per_month": -5}, "rows_per_month", "a positive number"),
        ("ingest", {"as_of": "2024-13"}, "as_of", "YYYY-MM"),
        ("ingest", {"first_month": "24-01"}, "first_month", "YYYY-MM"),
        ("features", {"test_months": 0}, "test_months", "a positive number"),
        ("features", {"test_months": -1}, "test_months", "a positive number"),
        ("train", {"learning_rate": 0}, "learning_rate", "a positive number"),
        ("train", {"learning_rate": -0.1}, "learning_rate", "a positive number"),
        ("train", {"max_iter": 0}, "max_iter", "a positive number"),
        ("train", {"min_samples_leaf": 0}, "min_samples_leaf", "a positive number"),
        ("train", {"max_leaf_nodes": 1}, "max_leaf_nodes", "at least 2"),
        ("train", {"l2_regularization": -1.0}, "l2_regularization", "at least 0"),
        ("evaluate", {"calibration_bins": 1}, "calibration_bins", "at least 2"),
        ("evaluate", {"score_bins": 0}, "score_bins", "at least 2"),
    ],
)
def test_impossible_values_are_refused(
    write_params: Callable[..., Path],
    section: str,
    values: dict[str, Any],
    key: str,
    expected: str,
) -> None:
    path = write_params(**{section: values})
    with pytest.raises(ParamsError) as info:
        params.load(path, section)
    message = str(info.value)
    assert str(path) in message
    assert f"{section}.{key}: expected" in message
    assert expected in message
    with pytest.raises(ParamsError):
        params.check(path)


def test_malformed_month_message_shows_value(write_params: Callable[..., Path]) -> None:
    path = write_params(ingest={"as_of": "2024-13"})
    with pytest.raises(
        ParamsError, match=r"ingest\.as_of: expected a month as YYYY-MM, got '2024-13'"
    ):
        params.load(path, "ingest")


def test_wrong_type_in_stage_section(write_params: Callable[..., Path]) -> None:
    path = write_params(train={"max_iter": 200.0})
    with pytest.raises(ParamsError, match=r"train\.max_iter: expected an integer, got 200\.0"):
        params.load(path, "train")


def test_check_stops_on_any_section(write_params: Callable[..., Path]) -> None:
    path = write_params(evaluate={"score_bins": 1})
    params.load(path, "ingest")  # the good sections still load on their own
    with pytest.raises(ParamsError, match=r"evaluate\.score_bins"):
        params.check(path)


# --- a stage's main() with bad params -------------------------------------------------------


@pytest.fixture
def stage_inputs(
    raw: pd.DataFrame, split: tuple[pd.DataFrame, pd.DataFrame], model: Any
) -> dict[str, Any]:
    return {"raw": raw, "train": split[0], "test": split[1], "model": model}


def _stage_cli(
    stage: str, tmp_path: Path, data: dict[str, Any]
) -> tuple[Callable[[list[str]], int], list[str], Path]:
    """Return (main, argv without --params, an output path) with every input in place."""
    inputs = tmp_path / "inputs"
    out = tmp_path / "out"
    if stage == "ingest":
        return ingest.main, ["--out", str(out / "raw.parquet")], out / "raw.parquet"
    if stage == "features":
        raw = inputs / "raw.parquet"
        io.write_parquet(raw, data["raw"])
        argv = ["--raw", str(raw), "--train", str(out / "train.parquet")]
        return features.main, [*argv, "--test", str(out / "test.parquet")], out / "train.parquet"
    if stage == "train":
        io.write_parquet(inputs / "train.parquet", data["train"])
        argv = ["--train", str(inputs / "train.parquet"), "--model", str(out / "model.pkl")]
        return train.main, argv, out / "model.pkl"
    train.save(inputs / "model.pkl", data["model"])
    io.write_parquet(inputs / "test.parquet", data["test"])
    argv = ["--model", str(inputs / "model.pkl"), "--test", str(inputs / "test.parquet")]
    argv += ["--metrics", str(out / "metrics.json"), "--plots", str(out / "plots")]
    return evaluate.main, argv, out / "metrics.json"


BAD = {
    "ingest": {"rows_per_month": 0},
    "features": {"test_months": 0},
    "train": {"max_leaf_nodes": 1},
    "evaluate": {"calibration_bins": "ten"},
}


@pytest.mark.parametrize("stage", list(BAD))
def test_stage_main_with_bad_params_fails_cleanly_and_keeps_output(
    stage: str,
    tmp_path: Path,
    write_params: Callable[..., Path],
    stage_inputs: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    main, argv, output = _stage_cli(stage, tmp_path, stage_inputs)
    sentinel = b"previous output, must survive\n"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(sentinel)
    bad = write_params("bad.yaml", **{stage: BAD[stage]})
    capsys.readouterr()

    code = main([*argv, "--params", str(bad)])

    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert str(bad) in lines[0]
    assert f"{stage}.{next(iter(BAD[stage]))}" in lines[0]
    assert captured.out == ""
    assert output.read_bytes() == sentinel
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]


@pytest.mark.parametrize("stage", list(BAD))
def test_stage_main_with_missing_params_file_fails_cleanly(
    stage: str,
    tmp_path: Path,
    stage_inputs: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    main, argv, output = _stage_cli(stage, tmp_path, stage_inputs)
    missing = tmp_path / "missing.yaml"

    code = main([*argv, "--params", str(missing)])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(f"error: {missing}: file not found")
    assert not output.exists()


@pytest.mark.parametrize("stage", list(BAD))
def test_stage_main_with_good_params_succeeds(
    stage: str,
    tmp_path: Path,
    write_params: Callable[..., Path],
    stage_inputs: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    main, argv, output = _stage_cli(stage, tmp_path, stage_inputs)
    assert main([*argv, "--params", str(write_params())]) == 0
    assert capsys.readouterr().err == ""
    assert output.stat().st_size > 0


def test_a_test_window_as_long_as_the_data_is_refused_before_any_stage(tmp_path):
    text = REPO_PARAMS.read_text().replace("test_months: 6", "test_months: 42")
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match="42 months held out, but the extract has 42"):
        params.check(path)
