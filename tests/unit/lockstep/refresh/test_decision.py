"""The release decision: the metrics, the bootstrap interval, and what it recommends."""

import numpy as np
import pandas as pd
import pytest
from lockstep.errors import ParamsError, WindowTooSmallError
from lockstep.refresh import decision
from lockstep.runtime import params
from sklearn.metrics import roc_auc_score

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


def test_auc_is_scikit_learns():
    champion, _ = models(1.0)
    y, p = champion["event"].to_numpy(), champion["probability"].to_numpy()
    assert decision.METRICS["auc"][0](y, p) == pytest.approx(roc_auc_score(y, p))


def test_a_clearly_better_challenger_is_recommended():
    champion, challenger = models(noise=2.0)
    outcome = compare(champion, challenger, DECISION)
    assert outcome["decision"] == "release recommended"
    low, high = outcome["interval"]
    assert low <= outcome["gain"] <= high and low > 0


def test_the_minimum_gain_decides():
    champion, challenger = models(noise=2.0)
    strict = decision.Decision(**{**DECISION.__dict__, "min_gain": 0.5})
    assert compare(champion, challenger, strict)["decision"] == "no action"


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
