"""Unit tests for the ingest stage: the simulated monthly warehouse extract."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from credit_model.params import Ingest
from credit_model.stages import ingest

COLUMNS = [
    "application_id",
    "month",
    "age",
    "employment",
    "annual_income",
    "tenure_months",
    "num_cards",
    "credit_limit",
    "balance",
    "delinquencies_24m",
    "months_since_delinquency",
    "inquiries_6m",
    "debt_to_income",
    "default_12m",
]


def test_columns_and_shape(raw: pd.DataFrame, ingest_settings: Ingest) -> None:
    assert list(raw.columns) == COLUMNS
    assert len(raw) == ingest_settings.rows_per_month * len(ingest_settings.months)


def test_every_month_has_rows_per_month(raw: pd.DataFrame, ingest_settings: Ingest) -> None:
    counts = raw["month"].value_counts().sort_index()
    assert list(counts.index) == ingest_settings.months
    assert set(counts) == {ingest_settings.rows_per_month}


def test_rows_are_ordered_by_month(raw: pd.DataFrame) -> None:
    assert raw["month"].is_monotonic_increasing


def test_values_are_plausible(raw: pd.DataFrame) -> None:
    assert raw["age"].between(18, 85).all()
    assert set(raw["employment"]) <= set(ingest.EMPLOYMENT)
    assert (raw["annual_income"] >= 0).all()
    assert (raw["credit_limit"] >= 500).all()
    assert (raw["balance"] >= 0).all()
    assert raw["debt_to_income"].between(0, 1).all()
    assert set(raw["default_12m"].unique()) <= {0, 1}
    delinquent = raw["delinquencies_24m"] > 0
    assert raw.loc[delinquent, "months_since_delinquency"].between(1, 24).all()
    assert raw.loc[~delinquent, "months_since_delinquency"].isna().all()


def test_application_ids_are_unique(raw: pd.DataFrame) -> None:
    assert raw["application_id"].is_unique


def test_default_rate_is_realistic() -> None:
    settings = Ingest(seed=20240101, first_month="2024-01", as_of="2024-03", rows_per_month=5000)
    rate = ingest.run(settings)["default_12m"].mean()
    assert 0.03 <= rate <= 0.20


def test_same_seed_gives_the_same_frame(ingest_settings: Ingest) -> None:
    pd.testing.assert_frame_equal(ingest.run(ingest_settings), ingest.run(ingest_settings))


def test_different_seed_gives_a_different_frame(raw: pd.DataFrame, ingest_settings: Ingest) -> None:
    other = ingest.run(replace(ingest_settings, seed=ingest_settings.seed + 1))
    assert list(other.columns) == list(raw.columns)
    assert not other.equals(raw)
    assert not other["annual_income"].equals(raw["annual_income"])


def test_moving_as_of_forward_keeps_earlier_months(
    raw: pd.DataFrame, ingest_settings: Ingest
) -> None:
    later = ingest.run(replace(ingest_settings, as_of="2024-03"))
    assert len(later) > len(raw)
    common = later[later["month"].isin(ingest_settings.months)].reset_index(drop=True)
    pd.testing.assert_frame_equal(common, raw)


def test_month_does_not_depend_on_first_month(raw: pd.DataFrame, ingest_settings: Ingest) -> None:
    last = ingest_settings.as_of
    alone = ingest.run(replace(ingest_settings, first_month=last))
    expected = raw[raw["month"] == last].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, expected)


def test_simulate_month_is_pure() -> None:
    first = ingest.simulate_month(5, "2022-07", 50)
    pd.testing.assert_frame_equal(first, ingest.simulate_month(5, "2022-07", 50))
    assert not first.equals(ingest.simulate_month(5, "2022-08", 50))


def test_rows_per_month_beyond_id_stride_is_refused(ingest_settings: Ingest) -> None:
    with pytest.raises(ValueError, match="rows_per_month"):
        ingest.run(replace(ingest_settings, rows_per_month=ingest.ID_STRIDE))
