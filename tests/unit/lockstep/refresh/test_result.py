"""A refresh's typed result, and report.json's shape: the kit's readers and scripts rely on it."""

from __future__ import annotations

import dataclasses
import json

from lockstep.refresh import result

from tests.unit.lockstep.refresh.conftest import IMAGE, fixed_report, no_new_data


def test_report_json_keeps_its_shape_with_a_schema() -> None:
    found = dataclasses.replace(fixed_report(), promoted="model/v4")
    data = json.loads(json.dumps(found.to_dict()))
    low, high = found.comparison.interval
    assert data == {
        "schema": result.SCHEMA,
        "champion": {
            "tag": "model/v3",
            "commit": "4f2a" * 10,
            "ingest.as_of": "2024-06",
            "image_id": IMAGE,
            "metrics": {"auc": 0.7712, "brier": 0.0702, "log_loss": 0.2553},
        },
        "challenger": {
            "ingest.as_of": "2024-12",
            "experiment": "challenger-2024-12",
            "image_id": IMAGE,
            "metrics": {"auc": 0.7843, "brier": 0.0695, "log_loss": 0.2531},
        },
        "window": {
            "holdout_months": [f"2024-{month:02d}" for month in range(7, 13)],
            "rows": 12000,
            "events": 1104,
        },
        "primary_metric": "auc",
        "gain": 0.0131,
        "interval": [low, high],
        "confidence": 0.9,
        "min_gain": 0.0,
        "resamples": 1000,
        "seed": 42,
        "decision": "release recommended",
        "reason": found.reason,
        "exit_code": 3,
        "promoted": "model/v4",
    }


def test_a_refresh_without_new_data_reports_the_models_and_the_decision_only() -> None:
    found = no_new_data("train.as_of")
    assert found.to_dict() == {
        "schema": result.SCHEMA,
        "champion": {"tag": "model/v3", "commit": "c" * 40, "train.as_of": "2024-12"},
        "challenger": {"train.as_of": "2024-12"},
        "decision": "no action",
        "reason": "no new data since the champion: its train.as_of is 2024-12",
        "exit_code": 0,
    }
