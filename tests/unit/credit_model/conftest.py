"""Small, fast fixtures for the credit-model stage tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from credit_model.params import Evaluate, Features, Ingest, Train
from credit_model.stages import features, ingest, train

# A params file every stage accepts, small enough for unit tests.
PARAMS: dict[str, dict[str, Any]] = {
    "ingest": {"seed": 11, "first_month": "2023-01", "as_of": "2023-06", "rows_per_month": 300},
    "features": {"test_months": 2},
    "train": {
        "seed": 7,
        "learning_rate": 0.1,
        "max_iter": 30,
        "max_leaf_nodes": 15,
        "min_samples_leaf": 20,
        "l2_regularization": 1.0,
    },
    "evaluate": {"calibration_bins": 10, "score_bins": 20},
}


@pytest.fixture
def write_params(tmp_path: Path) -> Callable[..., Path]:
    """Return a writer of a params file: PARAMS with some keys of some sections replaced."""

    def write(name: str = "params.yaml", **sections: dict[str, Any]) -> Path:
        data = {
            section: {**values, **sections.get(section, {})} for section, values in PARAMS.items()
        }
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write


@pytest.fixture(scope="session")
def ingest_settings() -> Ingest:
    return Ingest(**PARAMS["ingest"])


@pytest.fixture(scope="session")
def features_settings() -> Features:
    return Features(**PARAMS["features"])


@pytest.fixture(scope="session")
def train_settings() -> Train:
    return Train(**PARAMS["train"])


@pytest.fixture(scope="session")
def evaluate_settings() -> Evaluate:
    return Evaluate(**PARAMS["evaluate"])


@pytest.fixture(scope="session")
def raw(ingest_settings: Ingest) -> pd.DataFrame:
    return ingest.run(ingest_settings)


@pytest.fixture(scope="session")
def split(raw: pd.DataFrame, features_settings: Features) -> tuple[pd.DataFrame, pd.DataFrame]:
    return features.run(raw, features_settings)


@pytest.fixture(scope="session")
def model(split: tuple[pd.DataFrame, pd.DataFrame], train_settings: Train):
    return train.run(split[0], train_settings)
