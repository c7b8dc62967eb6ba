"""Score the out-of-time test set: discrimination and calibration metrics, and DVC plot data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from lockstep.runtime import stage
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score, roc_curve

from credit_model import io, params
from credit_model.params import Evaluate
from credit_model.stages import train as training
from credit_model.stages.features import TARGET, feature_columns

ROC_POINTS = 201
# Scorecard scaling: 600 points at good:bad odds of 50:1, 20 points to double the odds.
SCORE_OFFSET, SCORE_ODDS, POINTS_TO_DOUBLE = 600.0, 50.0, 20.0


# What each metric means, for people reading the report; every metric has one.


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Discrimination and calibration metrics of predicted default probabilities."""
    fpr, tpr, _ = roc_curve(y, p)
    auc = roc_auc_score(y, p)
    return {
        "auc": round(float(auc), 6),
        "gini": round(float(2 * auc - 1), 6),
        "ks": round(float(np.max(tpr - fpr)), 6),
        "brier": round(float(brier_score_loss(y, p)), 6),
        "log_loss": round(float(log_loss(y, p, labels=[0, 1])), 6),
        "default_rate": round(float(np.mean(y)), 6),
        "predicted_rate": round(float(np.mean(p)), 6),
        "rows": len(y),
    }


def roc_table(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """The ROC curve resampled on a fixed false-positive-rate grid, to keep plot files small."""
    fpr, tpr, _ = roc_curve(y, p)
    grid = np.linspace(0, 1, ROC_POINTS)
    return pd.DataFrame({"fpr": grid, "tpr": np.interp(grid, fpr, tpr)})


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int) -> pd.DataFrame:
    """Mean predicted against observed default rate, by quantile of predicted probability."""
    order = np.argsort(p, kind="stable")
    groups = np.array_split(order, bins)
    return pd.DataFrame(
        {
            "bin": np.arange(1, bins + 1),
            "predicted": [float(p[g].mean()) for g in groups],
            "observed": [float(y[g].mean()) for g in groups],
            "rows": [len(g) for g in groups],
        }
    )


def score(p: np.ndarray) -> np.ndarray:
    """Scorecard points: higher is safer."""
    p = np.clip(p, 1e-9, 1 - 1e-9)
    factor = POINTS_TO_DOUBLE / np.log(2)
    return SCORE_OFFSET + factor * (np.log((1 - p) / p) - np.log(SCORE_ODDS))


def score_table(y: np.ndarray, p: np.ndarray, bins: int) -> pd.DataFrame:
    """Share of goods and of defaulters in each score band."""
    points = score(p)
    edges = np.linspace(np.floor(points.min()), np.ceil(points.max()), bins + 1)
    band = np.clip(np.searchsorted(edges, points, side="right") - 1, 0, bins - 1)
    goods = np.bincount(band[y == 0], minlength=bins) / max(1, int((y == 0).sum()))
    bads = np.bincount(band[y == 1], minlength=bins) / max(1, int((y == 1).sum()))
    return pd.DataFrame({"score": np.round(edges[:-1], 1), "goods": goods, "defaulters": bads})


def month_table(month: pd.Series, y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Observed against mean predicted default rate in each month: drift shows here first."""
    frame = pd.DataFrame({"month": month.to_numpy(), "observed": y, "predicted": p})
    grouped = frame.groupby("month", sort=True)
    return pd.DataFrame(
        {
            "rows": grouped.size(),
            "observed": grouped["observed"].mean(),
            "predicted": grouped["predicted"].mean(),
        }
    ).reset_index()


def run(model, test: pd.DataFrame, settings: Evaluate) -> tuple[dict, dict[str, pd.DataFrame]]:
    """Return the metrics and the plot tables for the test set."""
    y = test[TARGET].to_numpy()
    p = model.predict_proba(test[feature_columns(test)])[:, 1]
    plots = {
        "roc": roc_table(y, p),
        "calibration": calibration_table(y, p, settings.calibration_bins),
        "scores": score_table(y, p, settings.score_bins),
        "months": month_table(test["month"], y, p),
    }
    summary = {**metrics(y, p), "months": sorted(test["month"].unique().tolist())}
    return summary, plots


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point used by dvc.yaml."""
    parser = stage.parser("credit_model.stages.evaluate", __doc__)
    parser.add_argument("--model", type=Path, required=True, help="model file (train output)")
    parser.add_argument("--test", type=Path, required=True, help="out-of-time test set (parquet)")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    parser.add_argument("--plots", type=Path, required=True, help="folder for plot data (CSV)")

    def body(args):
        settings = params.load(args.params, "evaluate")
        summary, plots = run(training.load(args.model), pd.read_parquet(args.test), settings)
        for name, table in plots.items():
            io.write_csv(args.plots / f"{name}.csv", table)
        io.write_json(args.metrics, summary)

    return stage.main(body, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
