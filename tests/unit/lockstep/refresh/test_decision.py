"""The release decision: the metrics, the bootstrap interval, and what it recommends."""

import numpy as np
import pandas as pd
import pytest
from lockstep.errors import ParamsError, WindowTooSmallError
from lockstep.refresh import decision
from lockstep.runtime import params

DECISION = decision.Decision(
    primary_metric="auc", min_gain=0.0, bootstrap=200, confidence=0.9, seed=3, min_events=10
)


def scores(probability, outcome):
    n = len(outcome)
    return pd.DataFrame(
        {
            "row": range(n),
            "period": "p1",
            "event": outcome,
            "probability": probability,
        }
    )


def compare(champion, challenger, rule):
    return decision.compare(champion, challenger, rule, keys=["row", "period"], outcome="event")


def models(noise: float, n: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    risk = rng.standard_normal(n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(risk - 2)))).astype(int)
    good = 1 / (1 + np.exp(-(risk - 2)))
    worse = 1 / (1 + np.exp(-(risk + noise * rng.standard_normal(n) - 2)))
    return scores(worse, y), scores(good, y)


def test_the_metrics_on_a_case_worked_by_hand():
    y = np.array([0.0, 0.0, 1.0, 1.0])
    p = np.array([0.1, 0.6, 0.4, 0.9])
    auc, higher = decision.METRICS["auc"]
    assert higher and auc(y, p) == 0.75  # 3 of the 4 (event, other) pairs ranked right
    brier, higher = decision.METRICS["brier"]
    assert not higher and brier(y, p) == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    log_loss, _ = decision.METRICS["log_loss"]
    expected = -np.mean(np.log([0.9, 0.4, 0.4, 0.9]))
    assert log_loss(y, p) == pytest.approx(expected)


def test_a_clearly_better_challenger_is_recommended():
    champion, challenger = models(noise=2.0)
    outcome = compare(champion, challenger, DECISION)
    assert outcome.decision == "release recommended" and outcome.recommended
    low, high = outcome.interval
    assert low <= outcome.gain <= high and low > 0


def test_the_minimum_gain_decides():
    champion, challenger = models(noise=2.0)
    strict = decision.Decision(**{**DECISION.__dict__, "min_gain": 0.5})
    assert compare(champion, challenger, strict).decision == "no action"


def test_the_comparison_is_deterministic():
    champion, challenger = models(noise=0.3)
    assert compare(champion, challenger, DECISION) == compare(champion, challenger, DECISION)


def test_a_window_without_enough_defaults_is_too_small():
    champion, challenger = models(noise=1.0, n=60)
    with pytest.raises(WindowTooSmallError, match="window too small"):
        compare(champion, challenger, DECISION)


def test_decision_params_are_checked():
    with pytest.raises(ParamsError, match="primary_metric"):
        params.build(
            decision.Decision, {**DECISION.__dict__, "primary_metric": "accuracy"}, "refresh"
        )


def test_the_interval_is_taken_from_the_resampled_gains_it_returns():
    champion, challenger = models(noise=2.0)
    outcome = compare(champion, challenger, DECISION)
    gains = outcome.gains
    assert 0 < len(gains) <= DECISION.bootstrap
    assert outcome.interval == tuple(round(bound, 6) for bound in decision.interval(gains, 0.9))
    assert (outcome.resamples, outcome.seed) == (DECISION.bootstrap, DECISION.seed)
