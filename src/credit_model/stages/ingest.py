"""Simulate the warehouse extract: monthly vintages of credit-card applications.

Each month's rows depend only on the seed and that month, so moving `as_of` forward appends new
months and leaves every earlier month byte-for-byte the same. Relationships are built around a
latent risk per applicant that drives utilisation, delinquencies, inquiries and the 12-month
default flag; income inflation and a slowly worsening portfolio give gentle drift.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from lockstep.runtime import months, stage

from credit_model import io, params
from credit_model.params import ID_STRIDE, Ingest

EMPLOYMENT = ("employed", "self_employed", "retired", "student")
# Drift is measured from a fixed origin, not from first_month, so a month never changes.
DRIFT_ORIGIN = months.index("2020-01")


def simulate_month(seed: int, month: str, rows: int) -> pd.DataFrame:
    """Return one month's applications, a pure function of (seed, month, rows)."""
    index = months.index(month)
    t = index - DRIFT_ORIGIN
    rng = np.random.default_rng([seed, index])
    risk = rng.standard_normal(rows)
    age = np.clip(np.round(21 + rng.gamma(4.0, 5.0, rows)), 18, 85).astype(np.int16)
    employment = _employment(rng, age)
    income = np.round(
        rng.lognormal(np.log(42_000 * 1.002**t), 0.5, rows) * (1 - 0.35 * (employment == 3)), -2
    )
    tenure = np.clip(np.round(rng.exponential(48, rows)), 0, 360).astype(np.int16)
    limit = np.clip(np.round(income * rng.uniform(0.08, 0.35, rows), -2), 500, None)
    utilisation = np.clip(rng.beta(2, 5, rows) + 0.12 * risk + 0.001 * t, 0, 1.2)
    delinquencies = rng.poisson(np.exp(-1.6 + 0.8 * risk)).astype(np.int16)
    since = np.where(delinquencies > 0, rng.integers(1, 25, rows), np.nan)
    inquiries = rng.poisson(np.exp(-0.2 + 0.35 * risk)).astype(np.int16)
    dti = np.clip(rng.beta(2, 6, rows) + 0.05 * risk, 0, 1)
    logit = (
        -3.3
        + 0.75 * risk
        + 1.4 * (utilisation - 0.3)
        + 0.3 * np.minimum(delinquencies, 5)
        + 0.1 * inquiries
        - 0.45 * np.log(income / 42_000)
        - 0.004 * tenure
        + 1.0 * dti
        + 0.35 * (employment == 3)
        - 0.01 * (age - 40)
        + 0.003 * t
    )
    default = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "application_id": np.arange(rows, dtype=np.int64) + index * ID_STRIDE,
            "month": month,
            "age": age,
            "employment": np.asarray(EMPLOYMENT)[employment],
            "annual_income": income,
            "tenure_months": tenure,
            "num_cards": (1 + rng.poisson(1.2, rows)).astype(np.int16),
            "credit_limit": limit,
            "balance": np.round(utilisation * limit, 2),
            "delinquencies_24m": delinquencies,
            "months_since_delinquency": since,
            "inquiries_6m": inquiries,
            "debt_to_income": np.round(dti, 4),
            "default_12m": default.astype(np.int8),
        }
    )


def _employment(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    """Employment status codes; retirement and study depend on age."""
    draw = rng.random(age.shape[0])
    retired = (age >= 62) & (draw < 0.7)
    student = (age <= 24) & (draw > 0.6)
    self_employed = ~retired & ~student & (draw < 0.12)
    return np.select([retired, student, self_employed], [2, 3, 1], default=0)


def run(settings: Ingest) -> pd.DataFrame:
    """Return the extract for every month from first_month to as_of."""
    frames = [
        simulate_month(settings.seed, month, settings.rows_per_month) for month in settings.months
    ]
    return pd.concat(frames, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point used by dvc.yaml."""
    parser = stage.parser("credit_model.stages.ingest", __doc__)
    parser.add_argument("--out", type=Path, required=True, help="parquet file to write")

    def body(args):
        io.write_parquet(args.out, run(params.load(args.params, "ingest")))

    return stage.main(body, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
