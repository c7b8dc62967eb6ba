import pytest
from lockstep import rerun
from lockstep.errors import ConfigError


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


def test_a_tolerance_never_excuses_a_different_output():
    verdict = rerun.Verdict("A", "sha256:1", metric_paths={"m.json"})
    verdict.outputs += [("train", "model.pkl", False), ("evaluate", "m.json", False)]
    verdict.metrics.append(("m.json:auc", 0.7, 0.7, True))
    assert not verdict.identical(tolerance=0)
    verdict.outputs[0] = ("train", "model.pkl", True)
    # The metrics file's bytes may differ when its values are within the tolerance.
    assert verdict.identical(tolerance=0)
    assert not verdict.identical()


def test_a_comparison_that_checked_nothing_is_not_identical():
    assert not rerun.Verdict("A", "sha256:1").identical()
    assert not rerun.Verdict("A", "sha256:1").identical(tolerance=1)


@pytest.mark.parametrize("text", ["abc", "-1", "nan", "inf", ""])
def test_a_tolerance_that_is_not_a_number_says_so(text):
    with pytest.raises(ConfigError, match="is not a number of 0 or more"):
        rerun.parse_tolerance(text)
    assert rerun.parse_tolerance("0.001") == 0.001
    assert rerun.parse_tolerance(None) is None
