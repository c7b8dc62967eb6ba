import pytest
from lockstep.errors import ConfigError
from lockstep.history.verdict import Row, Verdict, compare_metrics, parse_tolerance, summary


def test_verdict_with_and_without_tolerance():
    verdict = Verdict("A", "sha256:1")
    verdict.outputs.append(("train", "model.pkl", True))
    verdict.metrics.append(("m.json:auc", 0.7, 0.7001, False))
    assert not verdict.identical()
    verdict.metrics[0] = ("m.json:auc", 0.7, 0.7001, True)
    assert verdict.identical(tolerance=0.001)
    assert "identical" in verdict.table() and "m.json:auc" in verdict.table()


def test_a_tolerance_never_excuses_a_different_output():
    verdict = Verdict("A", "sha256:1", metric_paths={"m.json"})
    verdict.outputs += [("train", "model.pkl", False), ("evaluate", "m.json", False)]
    verdict.metrics.append(("m.json:auc", 0.7, 0.7, True))
    assert not verdict.identical(tolerance=0)
    verdict.outputs[0] = ("train", "model.pkl", True)
    # The metrics file's bytes may differ when its values are within the tolerance.
    assert verdict.identical(tolerance=0)
    assert not verdict.identical()


def test_a_comparison_that_checked_nothing_is_not_identical():
    assert not Verdict("A", "sha256:1").identical()
    assert not Verdict("A", "sha256:1").identical(tolerance=1)
    assert Verdict("A", "sha256:1").row().verdict == "ERROR"


def test_with_a_tolerance_metrics_files_holding_no_number_check_nothing():
    verdict = Verdict("A", "sha256:1", metric_paths={"m.json"})
    verdict.outputs.append(("evaluate", "m.json", True))

    assert verdict.identical()  # its bytes were compared
    assert not verdict.identical(tolerance=0.1)
    row = verdict.row(tolerance=0.1)
    assert (row.verdict, row.detail.split(":")[0]) == ("ERROR", "nothing was compared")
    assert verdict.table(tolerance=0.1).endswith(f"error: {row.detail}")


def test_an_unreadable_metrics_file_fails_and_says_why():
    verdict = Verdict("A", "sha256:1", outputs=[("train", "m.json", True)])
    compare_metrics(verdict, {"m.json": {"auc": 0.7}}, {"m.json": "corrupted"}, None)

    assert not verdict.identical()
    assert verdict.row().detail == "m.json (in the rerun: corrupted)"
    assert "m.json                                   unreadable: in the rerun: corrupted" in (
        verdict.table()
    )


def test_the_headline_tells_exact_from_within_tolerance():
    verdict = Verdict("A", "sha256:1", outputs=[("train", "model.pkl", True)])
    verdict.metrics.append(("m.json:auc", 0.7, 0.7, True))
    assert verdict.headline() == verdict.headline(tolerance=0.01) == "IDENTICAL"
    verdict.metrics[0] = ("m.json:auc", 0.7, 0.7001, True)
    assert verdict.headline(tolerance=0.01) == "within tolerance 0.01"
    verdict.metrics[0] = ("m.json:auc", 0.7, 0.7001, False)
    assert verdict.headline() == "DIFFERS"
    assert Verdict("A", "sha256:1").headline() == "ERROR"


@pytest.mark.parametrize("text", ["abc", "-1", "nan", "inf", ""])
def test_a_tolerance_that_is_not_a_number_says_so(text):
    with pytest.raises(ConfigError, match="is not a number of 0 or more"):
        parse_tolerance(text)
    assert parse_tolerance("0.001") == 0.001
    assert parse_tolerance(None) is None


def test_the_summary_says_where_each_revision_ran_only_when_one_ran_away() -> None:
    here = [Row("model/a", "sha256:" + "a" * 64, "identical", "9 outputs, 3 metrics")]
    assert summary(here).splitlines()[0].split() == [
        "revision",
        "image",
        "verdict",
        "detail",
    ]
    away = [
        Row("model/a", "sha256:" + "a" * 64, "identical", "9 outputs", "Slurm job 4 on n1"),
        Row("model/b", "", "ERROR", "was cancelled", "Slurm job 5 on n2"),
    ]
    lines = summary(away).splitlines()
    assert lines[0].split() == ["revision", "image", "where", "verdict", "detail"]
    assert lines[1].split()[2:8] == ["Slurm", "job", "4", "on", "n1", "identical"]
    assert lines[2].split()[:3] == ["model/b", "-", "Slurm"]
