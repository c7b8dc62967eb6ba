import pytest
from lockstep import rerun
from lockstep.errors import LineageError


def entry(image_id, fingerprint="f", ran_at="2026-01-01T00:00:00Z"):
    return {"image_id": image_id, "fingerprint": fingerprint, "ran_at": ran_at}


def test_flatten_keeps_numeric_leaves_only():
    data = {"auc": 0.7, "rows": 10, "months": ["2024-01"], "nested": {"ks": 0.3}, "ok": True}
    assert rerun.flatten(data) == {"auc": 0.7, "rows": 10.0, "nested.ks": 0.3}


def test_metric_files_come_from_every_stage():
    dvc_yaml = {"stages": {"a": {"metrics": [{"m.json": {"cache": False}}]}, "b": {}}}
    assert rerun.metric_files(dvc_yaml) == ["m.json"]


def test_recorded_image_is_the_latest_run_in_one_environment():
    record = {
        "stages": {
            "ingest": entry("sha256:old", ran_at="2026-01-01T00:00:00Z"),
            "train": entry("sha256:new", ran_at="2026-02-01T00:00:00Z"),
        }
    }
    assert rerun.recorded_image(record, "A")[0] == "sha256:new"


def test_stages_from_different_environments_are_refused():
    record = {"stages": {"a": entry("sha256:1", "f1"), "b": entry("sha256:2", "f2")}}
    with pytest.raises(LineageError, match="2 different environments"):
        rerun.recorded_image(record, "A")


def test_host_only_lineage_cannot_be_rerun():
    with pytest.raises(LineageError, match="ran in an image"):
        rerun.recorded_image({"stages": {"a": entry(None)}}, "A")


def test_verdict_with_and_without_tolerance():
    verdict = rerun.Verdict("A", "sha256:1")
    verdict.outputs.append(("train", "model.pkl", True))
    verdict.metrics.append(("m.json:auc", 0.7, 0.7001, False))
    assert not verdict.identical()
    verdict.metrics[0] = ("m.json:auc", 0.7, 0.7001, True)
    assert verdict.identical(tolerance=0.001)
    assert "identical" in verdict.table() and "m.json:auc" in verdict.table()
