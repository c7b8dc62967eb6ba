from lockstep.history import metrics

from tests.unit.lockstep.history.conftest import METRICS, git, rerun_tree


def test_flatten_keeps_numeric_leaves_only():
    data = {"auc": 0.7, "rows": 10, "months": ["2024-01"], "nested": {"ks": 0.3}, "ok": True}
    assert metrics.flatten(data) == {"auc": 0.7, "rows": 10.0, "nested.ks": 0.3}


def test_every_metrics_file_dvc_knows_is_read_at_a_revision_and_after_a_rerun(project, tmp_path):
    (project / "git.json").write_text('{"plain": 4}')  # the workspace is not the revision
    try:
        assert metrics.read_metrics(project, "HEAD") == METRICS
    finally:
        git(project, "checkout", "--", "git.json")
    assert metrics.read_metrics(rerun_tree(project, tmp_path)) == METRICS
