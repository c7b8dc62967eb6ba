"""Unit tests for the features stage: engineered columns and the out-of-time split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lockstep.errors import ParamsError

from credit_model.params import Features, Ingest
from credit_model.stages import features


def test_engineered_columns(raw: pd.DataFrame) -> None:
    frame = features.engineer(raw)
    assert list(frame.columns[:2]) == list(features.KEYS)
    assert frame.columns[-1] == features.TARGET
    assert len(frame) == len(raw)
    assert features.TARGET not in features.feature_columns(frame)
    assert not set(features.KEYS) & set(features.feature_columns(frame))
    numeric = frame[features.feature_columns(frame)]
    assert all(np.issubdtype(dtype, np.number) for dtype in numeric.dtypes)


def test_engineered_values(raw: pd.DataFrame) -> None:
    frame = features.engineer(raw)
    expected = (raw["balance"] / raw["credit_limit"]).astype(np.float32)
    np.testing.assert_array_equal(frame["utilisation"], expected)
    assert frame["employment"].between(0, len(features.EMPLOYMENT) - 1).all()
    np.testing.assert_array_equal(frame[features.TARGET], raw["default_12m"])


def test_split_puts_exactly_the_last_months_in_test(
    split: tuple[pd.DataFrame, pd.DataFrame], ingest_settings: Ingest, features_settings: Features
) -> None:
    train, test = split
    n = features_settings.test_months
    assert sorted(test["month"].unique()) == ingest_settings.months[-n:]
    assert sorted(train["month"].unique()) == ingest_settings.months[:-n]


def test_split_has_no_month_in_both(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = split
    assert not set(train["month"]) & set(test["month"])
    assert train["month"].max() < test["month"].min()


def test_split_keeps_every_row_once(
    raw: pd.DataFrame, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    train, test = split
    assert len(train) + len(test) == len(raw)
    ids = pd.concat([train["application_id"], test["application_id"]])
    assert ids.is_unique
    assert set(ids) == set(raw["application_id"])
    assert list(train.index) == list(range(len(train)))
    assert list(test.index) == list(range(len(test)))


@pytest.mark.parametrize("test_months", [1, 5])
def test_split_sizes(raw: pd.DataFrame, ingest_settings: Ingest, test_months: int) -> None:
    train, test = features.run(raw, Features(test_months=test_months))
    assert len(test) == test_months * ingest_settings.rows_per_month
    assert train["month"].nunique() == len(ingest_settings.months) - test_months


@pytest.mark.parametrize("extra", [0, 1])
def test_too_few_months_raises_params_error(
    raw: pd.DataFrame, ingest_settings: Ingest, extra: int
) -> None:
    settings = Features(test_months=len(ingest_settings.months) + extra)
    with pytest.raises(ParamsError, match=r"features\.test_months"):
        features.run(raw, settings)
