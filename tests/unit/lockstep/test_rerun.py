from lockstep import rerun


def test_flatten_keeps_numeric_leaves_only():
    data = {"auc": 0.7, "rows": 10, "months": ["2024-01"], "nested": {"ks": 0.3}, "ok": True}
    assert rerun.flatten(data) == {"auc": 0.7, "rows": 10.0, "nested.ks": 0.3}


def test_metric_files_come_from_every_stage():
    dvc_yaml = {"stages": {"a": {"metrics": [{"m.json": {"cache": False}}]}, "b": {}}}
    assert rerun.metric_files(dvc_yaml) == ["m.json"]


def test_verdict_with_and_without_tolerance():
    verdict = rerun.Verdict("A", "sha256:1")
    verdict.outputs.append(("train", "model.pkl", True))
    verdict.metrics.append(("m.json:auc", 0.7, 0.7001, False))
    assert not verdict.identical()
    verdict.metrics[0] = ("m.json:auc", 0.7, 0.7001, True)
    assert verdict.identical(tolerance=0.001)
    assert "identical" in verdict.table() and "m.json:auc" in verdict.table()
