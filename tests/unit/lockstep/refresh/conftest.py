"""What the refresh report's tests share: a refresh that recommends a release, fixed."""

from __future__ import annotations

import numpy as np
from lockstep.refresh import decision, result


def fixed_report() -> result.Refresh:
    """A recommended release, as `cycle.refresh` publishes it, with its resampled gains.

    docs/refresh.md's screenshot is taken from it too (the kit's tests/support/screenshots.py).
    """
    rng = np.random.default_rng(7)
    gains = tuple(float(gain) for gain in rng.normal(0.0131, 0.006, 1000))
    low, high = decision.interval(gains, 0.9)
    comparison = decision.Comparison(
        rows=12000,
        events=1104,
        champion_metrics={"auc": 0.7712, "brier": 0.0702, "log_loss": 0.2553},
        challenger_metrics={"auc": 0.7843, "brier": 0.0695, "log_loss": 0.2531},
        primary_metric="auc",
        gain=0.0131,
        interval=(round(low, 6), round(high, 6)),
        confidence=0.9,
        min_gain=0.0,
        resamples=1000,
        seed=42,
        gains=gains,
        decision=decision.RECOMMENDED,
        reason=f"auc gain +0.0131, 90% interval [{low:+.4f}, {high:+.4f}]; its lower bound "
        "is at least the minimum gain +0.0000",
    )
    return result.Refresh(
        param="ingest.as_of",
        champion=result.Model("2024-06", tag="model/v3", commit="4f2a" * 10, image_id=IMAGE),
        challenger=result.Model("2024-12", experiment="challenger-2024-12", image_id=IMAGE),
        decision=comparison.decision,
        reason=comparison.reason,
        exit_code=3,
        holdout_months=tuple(f"2024-{month:02d}" for month in range(7, 13)),
        comparison=comparison,
    )


IMAGE = "sha256:" + "c" * 64


def no_new_data(param: str) -> result.Refresh:
    """A refresh that found no data newer than the champion's: no challenger was fitted."""
    return result.Refresh(
        param=param,
        champion=result.Model("2024-12", tag="model/v3", commit="c" * 40),
        challenger=result.Model("2024-12"),
        decision="no action",
        reason=f"no new data since the champion: its {param} is 2024-12",
        exit_code=0,
    )
