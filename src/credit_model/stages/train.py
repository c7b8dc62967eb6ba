"""Fit a seeded, deterministic gradient-boosted classifier of 12-month default."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
from lockstep.files import atomic_write
from lockstep.runtime import stage
from sklearn.ensemble import HistGradientBoostingClassifier

from credit_model import params
from credit_model.params import Train
from credit_model.stages.features import TARGET, feature_columns


def run(train: pd.DataFrame, settings: Train) -> HistGradientBoostingClassifier:
    """Fit the classifier on the training set."""
    columns = feature_columns(train)
    model = HistGradientBoostingClassifier(
        learning_rate=settings.learning_rate,
        max_iter=settings.max_iter,
        max_leaf_nodes=settings.max_leaf_nodes,
        min_samples_leaf=settings.min_samples_leaf,
        l2_regularization=settings.l2_regularization,
        categorical_features=[columns.index("employment")],
        # Early stopping would carve a random validation set out of the data; a fixed
        # number of iterations keeps the fit a pure function of data, params and seed.
        early_stopping=False,
        random_state=settings.seed,
    )
    return model.fit(train[columns], train[TARGET])


def save(path: Path, model: HistGradientBoostingClassifier) -> None:
    """Pickle the model; equal models pickle to equal bytes."""
    atomic_write(path, pickle.dumps(model, protocol=5))


def load(path: Path) -> HistGradientBoostingClassifier:
    """Load a model written by `save`."""
    return pickle.loads(Path(path).read_bytes())


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point used by dvc.yaml."""
    parser = stage.parser("credit_model.stages.train", __doc__)
    parser.add_argument("--train", type=Path, required=True, help="training set (parquet)")
    parser.add_argument("--model", type=Path, required=True, help="model file to write")

    def body(args):
        save(args.model, run(pd.read_parquet(args.train), params.load(args.params, "train")))

    return stage.main(body, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
