"""The release decision: both models on the same rows, the gain and its bootstrap interval.

A release is recommended only when the lower bound of a paired, seeded bootstrap confidence
interval on the gain in the primary metric reaches `min_gain`, so a noisy gain never triggers
one. The metrics are scikit-learn's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lockstep.errors import InvalidParamError, LockstepError, WindowTooSmallError

if TYPE_CHECKING:
    # Imported where used: they take about a second to load, and every `./inv` task imports
    # this module through the kit's tasks.
    import numpy as np
    import pandas as pd

RECOMMENDED, NO_ACTION = "release recommended", "no action"


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def _brier(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import brier_score_loss

    return float(brier_score_loss(y, p))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(y, p, labels=[0, 1]))


# name -> (metric of (outcome, probability), whether higher is better)
METRICS = {"auc": (_auc, True), "brier": (_brier, False), "log_loss": (_log_loss, False)}


@dataclass(frozen=True)
class Decision:
    """The `refresh` section of params.yaml: how a challenger must beat the champion."""

    primary_metric: str
    min_gain: float
    bootstrap: int
    confidence: float
    seed: int
    min_events: int

    def __post_init__(self) -> None:
        if self.primary_metric not in METRICS:
            raise InvalidParamError("primary_metric", f"one of {', '.join(METRICS)}")
        if not 0 < self.confidence < 1:
            raise InvalidParamError("confidence", "a number between 0 and 1")
        if self.bootstrap < 100:
            raise InvalidParamError("bootstrap", "at least 100 resamples")
        if self.min_events < 1:
            raise InvalidParamError("min_events", "a positive integer")


@dataclass(frozen=True)
class Comparison:
    """Both models on the same holdout rows: their metrics, the gain, its interval, the decision."""

    rows: int
    events: int  # rows whose outcome is 1
    champion_metrics: dict[str, float]
    challenger_metrics: dict[str, float]
    primary_metric: str
    gain: float  # in the primary metric; positive: the challenger is better
    interval: tuple[float, float]
    confidence: float
    min_gain: float
    resamples: int
    seed: int
    # The bootstrap distribution the interval comes from, for the page's histogram; kept out of
    # report.json: a float per resample, thousands, where a reader of the JSON needs the
    # interval (and the seed draws the same ones again from the same scores).
    gains: tuple[float, ...]
    decision: str  # RECOMMENDED or NO_ACTION
    reason: str

    @property
    def recommended(self) -> bool:
        """Whether a release is recommended."""
        return self.decision == RECOMMENDED


def compare(
    champ: pd.DataFrame,
    chall: pd.DataFrame,
    decision: Decision,
    *,
    keys: Sequence[str],
    outcome: str,
) -> Comparison:
    """Both models' metrics on the same rows, the gain and its bootstrap interval, the decision.

    Each frame has the row keys, the observed outcome and a `probability` column.
    """
    rows = champ.merge(chall, on=[*keys, outcome], suffixes=("_a", "_b"))
    if len(rows) != len(champ) or len(rows) != len(chall):
        raise LockstepError("champion and challenger scored different rows", "report this bug")
    y = rows[outcome].to_numpy().astype(float)
    a, b = rows["probability_a"].to_numpy(), rows["probability_b"].to_numpy()
    events = int(y.sum())
    if min(events, len(y) - events) < decision.min_events:
        raise WindowTooSmallError(
            f"window too small to compare: {events} events (outcome 1) and {len(y) - events} "
            f"others in the holdout, fewer than min_events={decision.min_events}",
            "wait for more months of data, or lower refresh.min_events in params.yaml",
        )
    metric, higher = METRICS[decision.primary_metric]
    sign = 1.0 if higher else -1.0
    gain = sign * (metric(y, b) - metric(y, a))
    gains = bootstrap(y, a, b, metric, sign, decision)
    low, high = interval(gains, decision.confidence)
    recommended = low >= decision.min_gain
    name = decision.primary_metric
    reason = (
        f"{name} gain {gain:+.4f}, {decision.confidence:.0%} interval [{low:+.4f}, {high:+.4f}]; "
        f"its lower bound is {'at least' if recommended else 'below'} the minimum gain "
        f"{decision.min_gain:+.4f}"
    )
    return Comparison(
        rows=len(y),
        events=events,
        champion_metrics={k: round(f(y, a), 6) for k, (f, _) in METRICS.items()},
        challenger_metrics={k: round(f(y, b), 6) for k, (f, _) in METRICS.items()},
        primary_metric=name,
        gain=round(gain, 6),
        interval=(round(low, 6), round(high, 6)),
        confidence=decision.confidence,
        min_gain=decision.min_gain,
        resamples=decision.bootstrap,
        seed=decision.seed,
        gains=gains,
        decision=RECOMMENDED if recommended else NO_ACTION,
        reason=reason,
    )


def bootstrap(y, a, b, metric, sign: float, decision: Decision) -> tuple[float, ...]:
    """The paired gains: both models scored on the same resampled rows, in the seed's order.

    Written out rather than scipy.stats.bootstrap: a resample with a single class has no AUC
    and must be skipped, which scipy's cannot do (it would fail or return NaN).
    """
    import numpy as np

    rng = np.random.default_rng(decision.seed)
    gains = []
    for _ in range(decision.bootstrap):
        idx = rng.integers(0, len(y), len(y))
        if 0 < y[idx].sum() < len(idx):
            gains.append(sign * (metric(y[idx], b[idx]) - metric(y[idx], a[idx])))
    return tuple(gains)


def interval(gains: Sequence[float], confidence: float) -> tuple[float, float]:
    """The percentile interval of the gains at `confidence`."""
    import numpy as np

    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(gains, [tail, 100 - tail])
    return float(low), float(high)
