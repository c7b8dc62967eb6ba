import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from lockstep.errors import LinkError
from lockstep.history import rerun
from lockstep.history.verdict import Verdict

from tests.unit.lockstep.history.conftest import METRICS, git, rerun_tree


def compare(root: Path, tree: Path, tolerance: float | None = None) -> Verdict:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return rerun.compare(root, head.stdout.strip(), tree, "A", "sha256:1", tolerance)


def test_a_faithful_rerun_compares_every_metric_and_is_identical(project, tmp_path):
    verdict = compare(project, rerun_tree(project, tmp_path))

    assert verdict.identical(), verdict.table()
    assert [name for name, *_ in verdict.metrics] == [
        "cached.yaml:acc",
        "d/m.toml:x",
        "git.json:plain",
        "live/metrics.json:auc",
        "live/metrics.json:rows",
    ]
    # The directory of metrics counts as one; `live` holds a plot too, so its bytes count.
    assert verdict.metric_paths == {*METRICS, "d"}
    assert not verdict.hints


def test_a_differing_rerun_names_the_metric_and_the_suspects(project, tmp_path):
    verdict = compare(project, rerun_tree(project, tmp_path, AUC="0.6"))

    assert not verdict.identical()
    assert ("live/metrics.json:auc", 0.5, 0.6, False) in verdict.metrics
    assert [line.split(" (")[0] for line in verdict.hints] == [
        "hint: stage train: params.yaml train.n_jobs = -1",
        "hint: stage train: params.yaml train.seed = None",
    ]
    assert verdict.hints[0] in verdict.table()
    # A tolerance excuses the metric, not the directory that holds a plot next to it.
    assert not compare(project, tmp_path / "tree", tolerance=0.2).identical(tolerance=0.2)


def test_a_dvc_output_metric_missing_from_the_cache_fails_with_the_remedy(project, tmp_path):
    root = tmp_path / "clone"
    shutil.copytree(project, root)
    shutil.rmtree(root / ".dvc/cache")
    tree = rerun_tree(root, tmp_path)

    verdict = compare(root, tree)

    assert not verdict.identical()
    # Unlisted in the cache, the directory `d` is one file at A; its file is one in the rerun.
    assert verdict.unreadable == [
        (path, "at A: missing from git and the DVC cache; `invoke pull A` brings it")
        for path in ("cached.yaml", "d", "d/m.toml", "live/metrics.json")
    ]
    assert "git.json:plain" in [name for name, *_ in verdict.metrics]
    assert "invoke pull A" in verdict.row().detail


def test_a_link_out_that_the_rerun_left_is_refused_before_its_tree_is_read(tmp_path):
    (tmp_path / "outside").mkdir()
    tree = tmp_path / "tree"
    (tree / "live").mkdir(parents=True)
    (tree / "live" / "metrics.json").symlink_to(tmp_path / "outside" / "secret")
    (tree / "same").symlink_to("live")  # inside: read as it is

    with pytest.raises(LinkError, match=r"^the run of A left links out of its tree: live/metrics"):
        rerun.compare(tmp_path, "0" * 40, tree, "A", "sha256:1", None)


def test_revisions_naming_one_commit_are_rerun_once_and_reported_for_each(tmp_path, monkeypatch):
    """A gate over tags on few commits reruns each commit once; every tag still has its row."""
    git(tmp_path, "init", "--quiet")
    for number, tags in enumerate((["r1", "r2"], ["r3"])):
        git(tmp_path, "commit", "--quiet", "--allow-empty", "-m", f"commit {number}")
        for tag in tags:
            git(tmp_path, "tag", tag)
    git(tmp_path, "tag", "r4", "r1")
    batches = []

    def batch(settings, engine, revs, tolerance, on):
        batches.append(revs)
        return [
            rerun.Outcome(rev, Verdict(rev, "sha256:image", f"commit of {rev}")) for rev in revs
        ]

    monkeypatch.setattr(rerun, "_batch", batch)
    settings = SimpleNamespace(root=tmp_path)
    revs = ["r1", "r3", "r2", "unknown", "r4"]

    for on, ran in (("local", [["r1"], ["r3"], ["unknown"]]), ("slurm", [["r1", "r3", "unknown"]])):
        batches.clear()
        outcomes = list(rerun.rerun_all(settings, None, revs, tolerance=None, on=on))

        assert batches == ran
        assert [(o.rev, o.verdict.rev, o.same_as) for o in outcomes] == [
            ("r1", "r1", ""),
            ("r3", "r3", ""),
            ("r2", "r2", "r1"),
            ("unknown", "unknown", ""),
            ("r4", "r4", "r1"),
        ]
        assert outcomes[2].verdict.commit == outcomes[4].verdict.commit == "commit of r1"
