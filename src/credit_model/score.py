"""Score a model on chosen months of a raw extract: the refresh's common yardstick.

A refresh scores the champion and the challenger on the same holdout rows, each with its own
code and in its own image, so the raw extract (not engineered features) is the shared input:
each model's own feature code prepares it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from lockstep.runtime import stage

from credit_model import io
from credit_model.stages import train
from credit_model.stages.features import TARGET, engineer, feature_columns


def run(model, raw: pd.DataFrame, months: list[str]) -> pd.DataFrame:
    """Predicted default probability, with the outcome, for every row of `months`."""
    frame = engineer(raw[raw["month"].isin(months)].reset_index(drop=True))
    return pd.DataFrame(
        {
            "application_id": frame["application_id"],
            "month": frame["month"],
            "outcome": frame[TARGET],
            "probability": model.predict_proba(frame[feature_columns(frame)])[:, 1],
        }
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point used by `invoke refresh`."""
    parser = stage.parser("credit_model.score", __doc__)
    parser.add_argument("--model", type=Path, required=True, help="model file (train output)")
    parser.add_argument("--raw", type=Path, required=True, help="raw extract (ingest output)")
    parser.add_argument("--months", required=True, help="comma-separated months to score")
    parser.add_argument("--out", type=Path, required=True, help="predictions parquet to write")

    def body(args):
        scores = run(train.load(args.model), pd.read_parquet(args.raw), args.months.split(","))
        io.write_parquet(args.out, scores)

    return stage.main(body, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
