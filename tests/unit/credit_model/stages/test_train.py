"""Unit tests for the train stage: a seeded, byte-for-byte reproducible fit."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from credit_model.params import Train
from credit_model.stages import train
from credit_model.stages.features import feature_columns


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_fits_pickle_to_identical_bytes(
    tmp_path: Path, split: tuple[pd.DataFrame, pd.DataFrame], train_settings: Train
) -> None:
    first, second = tmp_path / "a" / "model.pkl", tmp_path / "b" / "model.pkl"
    train.save(first, train.run(split[0], train_settings))
    train.save(second, train.run(split[0], train_settings))
    assert sha256(first) == sha256(second)


def test_save_then_load_predicts_the_same(
    tmp_path: Path, split: tuple[pd.DataFrame, pd.DataFrame], model
) -> None:
    test = split[1]
    path = tmp_path / "model.pkl"
    train.save(path, model)
    loaded = train.load(path)
    columns = feature_columns(test)
    np.testing.assert_array_equal(
        loaded.predict_proba(test[columns]), model.predict_proba(test[columns])
    )


def test_save_leaves_no_temp_files(tmp_path: Path, model) -> None:
    train.save(tmp_path / "model.pkl", model)
    train.save(tmp_path / "model.pkl", model)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pkl"]


def test_params_reach_the_model(model, train_settings: Train) -> None:
    assert model.learning_rate == train_settings.learning_rate
    assert model.max_iter == train_settings.max_iter
    assert model.n_iter_ == train_settings.max_iter
    assert model.max_leaf_nodes == train_settings.max_leaf_nodes
    assert model.random_state == train_settings.seed


def test_model_uses_the_feature_columns(model, split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    assert list(model.feature_names_in_) == feature_columns(split[0])
    assert list(model.classes_) == [0, 1]


def test_different_params_give_a_different_model(
    tmp_path: Path, split: tuple[pd.DataFrame, pd.DataFrame], train_settings: Train, model
) -> None:
    other = train.run(split[0], replace(train_settings, max_iter=train_settings.max_iter + 5))
    train.save(tmp_path / "a.pkl", model)
    train.save(tmp_path / "b.pkl", other)
    assert sha256(tmp_path / "a.pkl") != sha256(tmp_path / "b.pkl")
