"""Engineer model features and split out of time: the latest months are the test set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from lockstep.errors import ParamsError
from lockstep.runtime import stage

from credit_model import io, params
from credit_model.params import Features
from credit_model.stages.ingest import EMPLOYMENT

TARGET = "default_12m"
KEYS = ("application_id", "month")


def engineer(raw: pd.DataFrame) -> pd.DataFrame:
    """Return keys, model features and the target for each application."""
    income = raw["annual_income"].clip(lower=1.0)
    return pd.DataFrame(
        {
            "application_id": raw["application_id"],
            "month": raw["month"],
            "age": raw["age"].astype(np.float32),
            "employment": pd.Categorical(raw["employment"], categories=EMPLOYMENT).codes.astype(
                np.int8
            ),
            "log_income": np.log(income).astype(np.float32),
            "tenure_months": raw["tenure_months"].astype(np.float32),
            "num_cards": raw["num_cards"].astype(np.float32),
            "utilisation": (raw["balance"] / raw["credit_limit"]).astype(np.float32),
            "limit_to_income": (raw["credit_limit"] / income).astype(np.float32),
            "balance_to_income": (raw["balance"] / income).astype(np.float32),
            "delinquencies_24m": raw["delinquencies_24m"].astype(np.float32),
            "months_since_delinquency": raw["months_since_delinquency"].astype(np.float32),
            "inquiries_6m": raw["inquiries_6m"].astype(np.float32),
            "debt_to_income": raw["debt_to_income"].astype(np.float32),
            TARGET: raw[TARGET].astype(np.int8),
        }
    )


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The model's inputs: every column but the keys and the target."""
    return [c for c in frame.columns if c not in (*KEYS, TARGET)]


def split(frame: pd.DataFrame, settings: Features) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Out-of-time split: the last `test_months` months form the test set."""
    months = sorted(frame["month"].unique())
    if len(months) <= settings.test_months:
        raise ParamsError(
            f"features.test_months: expected fewer than the {len(months)} months ingested",
            "lower test_months or move ingest.as_of forward",
        )
    test = frame["month"].isin(months[-settings.test_months :])
    return frame[~test].reset_index(drop=True), frame[test].reset_index(drop=True)


def run(raw: pd.DataFrame, settings: Features) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, test) feature tables."""
    return split(engineer(raw), settings)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point used by dvc.yaml."""
    parser = stage.parser("credit_model.stages.features", __doc__)
    parser.add_argument("--raw", type=Path, required=True, help="ingest output (parquet)")
    parser.add_argument("--train", type=Path, required=True, help="training set to write")
    parser.add_argument("--test", type=Path, required=True, help="out-of-time test set to write")

    def body(args):
        train, test = run(pd.read_parquet(args.raw), params.load(args.params, "features"))
        io.write_parquet(args.train, train)
        io.write_parquet(args.test, test)

    return stage.main(body, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
