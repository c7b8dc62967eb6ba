import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lockstep.errors import ConfigError
from lockstep.history import replay, rerun
from lockstep.records import lineage


def test_flatten_keeps_numeric_leaves_only():
    data = {"auc": 0.7, "rows": 10, "months": ["2024-01"], "nested": {"ks": 0.3}, "ok": True}
    assert rerun.flatten(data) == {"auc": 0.7, "rows": 10.0, "nested.ks": 0.3}


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
    assert rerun.Verdict("A", "sha256:1").row().verdict == "ERROR"


def test_with_a_tolerance_metrics_files_holding_no_number_check_nothing():
    verdict = rerun.Verdict("A", "sha256:1", metric_paths={"m.json"})
    verdict.outputs.append(("evaluate", "m.json", True))

    assert verdict.identical()  # its bytes were compared
    assert not verdict.identical(tolerance=0.1)
    row = verdict.row(tolerance=0.1)
    assert (row.verdict, row.detail.split(":")[0]) == ("ERROR", "nothing was compared")
    assert verdict.table(tolerance=0.1).endswith(f"error: {row.detail}")


def test_an_unreadable_metrics_file_fails_and_says_why():
    verdict = rerun.Verdict("A", "sha256:1", outputs=[("train", "m.json", True)])
    rerun.compare_metrics(verdict, {"m.json": {"auc": 0.7}}, {"m.json": "corrupted"}, None)

    assert not verdict.identical()
    assert verdict.row().detail == "m.json (in the rerun: corrupted)"
    assert "m.json                                   unreadable: in the rerun: corrupted" in (
        verdict.table()
    )


def test_the_headline_tells_exact_from_within_tolerance():
    verdict = rerun.Verdict("A", "sha256:1", outputs=[("train", "model.pkl", True)])
    verdict.metrics.append(("m.json:auc", 0.7, 0.7, True))
    assert verdict.headline() == verdict.headline(tolerance=0.01) == "IDENTICAL"
    verdict.metrics[0] = ("m.json:auc", 0.7, 0.7001, True)
    assert verdict.headline(tolerance=0.01) == "within tolerance 0.01"
    verdict.metrics[0] = ("m.json:auc", 0.7, 0.7001, False)
    assert verdict.headline() == "DIFFERS"
    assert rerun.Verdict("A", "sha256:1").headline() == "ERROR"


MACHINE = {
    "cpu": {"model": "Haswell", "cpus": 2},
    "thread_pools": [{"internal_api": "openblas", "version": "0.3", "num_threads": 2}],
    "env": {},
}


class Labels:
    """An engine that knows one image's labels."""

    def __init__(self, labels: dict[str, str]) -> None:
        self.found = labels

    def labels(self, ref: str) -> dict[str, str]:
        return self.found


def test_the_environment_is_compared_with_the_record_fact_by_fact(tmp_path, environment):
    (tmp_path / "poetry.lock").write_text("# lock\n")
    recorded = environment(commit="c" * 40, dirty=True, machine=MACHINE)
    run = lineage.StageRun(recorded, {}, "2026-12-01T00:00:00Z")
    labels = {"io.lockstep.fingerprint": "f", "io.lockstep.python": "3.11", "io.lockstep.dvc": "3"}
    past = replay.Replay(
        None,
        Labels(labels),
        "A",
        "d" * 40,
        lineage.LineageRecord({"t": run}),
        "sha256:1",
        run,
        tmp_path,
    )
    here = {**MACHINE, "env": {"OMP_NUM_THREADS": "4"}}

    facts = {fact.name: fact for fact in rerun.environment(past, here)}

    assert facts["image id"] == rerun.Fact("image id", "sha256:1", "sha256:1")
    assert facts["environment fingerprint"].same() and facts["Python"].same()
    assert facts["base image"] == rerun.Fact("base image", "b", rerun.UNSET)  # no label
    locked = hashlib.sha256(b"# lock\n").hexdigest()
    assert facts["poetry.lock sha256"] == rerun.Fact("poetry.lock sha256", "l", locked)
    assert facts["image tag"].same() is None
    assert facts["commit the stages ran at"].recorded == "c" * 40 + " (with uncommitted changes)"
    # The machine's, grouped and named as their causes are: variables, BLAS, then the CPU.
    names = list(facts)[list(facts).index("commit the stages ran at") + 1 :]
    assert names == [
        "env OMP_NUM_THREADS",
        "openblas 0.3 num_threads",
        "cpu cpus",
        "cpu model",
    ]
    assert facts["env OMP_NUM_THREADS"] == rerun.Fact("env OMP_NUM_THREADS", "unset", "4")
    assert facts["cpu model"].same()


def test_a_record_without_machine_facts_says_so():
    facts = rerun.machine_facts(None, MACHINE)
    assert {fact.recorded for fact in facts} == {rerun.NOT_RECORDED}
    assert [fact.rerun for fact in facts] == ["2", "2", "Haswell"]


@pytest.mark.parametrize(
    ("params", "cmd", "expected"),
    [
        ({"train": {"n_jobs": 2}}, "", ["params.yaml train.n_jobs = 2"]),
        ({"train.nthread": -1}, "", ["params.yaml train.nthread = -1"]),
        ({"fit": {"xgb": {"num_threads": 0}}}, "", ["params.yaml fit.xgb.num_threads = 0"]),
        ({"train": {"random_state": None}}, "", ["params.yaml train.random_state = None"]),
        ({}, "OMP_NUM_THREADS=4 python fit.py", ["its cmd sets OMP_NUM_THREADS=4"]),
        ({"train": {"n_jobs": 1, "workers": 1, "seed": 7, "rate": None}}, "", []),
        (
            {},
            ["MKL_NUM_THREADS=1 python a.py", "OPENBLAS_NUM_THREADS=8 b"],
            ["its cmd sets OPENBLAS_NUM_THREADS=8"],
        ),
    ],
)
def test_suspects_of_nondeterminism(params, cmd, expected):
    entry = {"cmd": cmd, "params": {"params.yaml": params}} if params else {"cmd": cmd}
    found = rerun.suspects("train", entry)
    assert [line.split(" (")[0] for line in found] == [
        f"hint: stage train: {text}" for text in expected
    ]
    assert all("set it to" in line for line in found)


@pytest.mark.parametrize("text", ["abc", "-1", "nan", "inf", ""])
def test_a_tolerance_that_is_not_a_number_says_so(text):
    with pytest.raises(ConfigError, match="is not a number of 0 or more"):
        rerun.parse_tolerance(text)
    assert rerun.parse_tolerance("0.001") == 0.001
    assert rerun.parse_tolerance(None) is None


# A pipeline with every kind of metrics file DVC knows: top-level `metrics:` inside an output
# directory (as dvclive writes them), a stage's metrics file cached by DVC (not in git), a
# directory of metrics, a metrics file in git; JSON, YAML and TOML. AUC varies with the
# environment: a stand-in for nondeterminism.
SCRIPT = """\
mkdir -p live d
echo "{\\"auc\\": ${AUC:-0.5}, \\"rows\\": 10}" > live/metrics.json
echo 'x,y' > live/plot.csv
echo 'acc: 0.9' > cached.yaml
echo 'x = 1.5' > d/m.toml
echo '{"plain": 3}' > git.json
"""
DVC_YAML = """\
metrics:
  - live/metrics.json
stages:
  train:
    cmd: sh make.sh
    deps: [make.sh]
    params: [train]
    outs: [live]
    metrics:
      - cached.yaml
      - d
      - git.json:
          cache: false
"""
METRICS = {
    "live/metrics.json": {"auc": 0.5, "rows": 10.0},
    "cached.yaml": {"acc": 0.9},
    "d/m.toml": {"x": 1.5},
    "git.json": {"plain": 3.0},
}


def run(cwd: Path, *args: str, **env: str) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, env=os.environ | env)


def dvc(cwd: Path, *args: str, **env: str) -> None:
    run(cwd, sys.executable, "-m", "dvc", *args, **env)


def git(cwd: Path, *args: str) -> None:
    run(cwd, "git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A git and DVC repository whose pipeline ran and was committed."""
    root = tmp_path_factory.mktemp("project")
    git(root, "init", "--quiet")
    dvc(root, "init", "--quiet")
    (root / "make.sh").write_text(SCRIPT)
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text("train:\n  n_jobs: -1\n  seed: null\n  rate: 0.1\n")
    dvc(root, "repro", "--quiet")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "results")
    return root


def rerun_tree(root: Path, tmp_path: Path, **env: str) -> Path:
    """The committed revision rerun in a worktree of its own without git, as `invoke rerun` does."""
    tree = tmp_path / "tree"
    git(root, "worktree", "add", "--detach", "--quiet", str(tree), "HEAD")
    dvc(tree, "config", "--local", "core.no_scm", "true")
    dvc(tree, "repro", "--force", "--quiet", **env)
    return tree


def compare(root: Path, tree: Path, tolerance: float | None = None) -> rerun.Verdict:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return rerun.compare(root, head.stdout.strip(), tree, "A", "sha256:1", tolerance)


def test_every_metrics_file_dvc_knows_is_read_at_a_revision_and_after_a_rerun(project, tmp_path):
    (project / "git.json").write_text('{"plain": 4}')  # the workspace is not the revision
    try:
        assert rerun.read_metrics(project, "HEAD") == METRICS
    finally:
        git(project, "checkout", "--", "git.json")
    assert rerun.read_metrics(rerun_tree(project, tmp_path)) == METRICS


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


def test_the_summary_says_where_each_revision_ran_only_when_one_ran_away() -> None:
    here = [rerun.Row("model/a", "sha256:" + "a" * 64, "identical", "9 outputs, 3 metrics")]
    assert rerun.summary(here).splitlines()[0].split() == ["revision", "image", "verdict", "detail"]
    away = [
        rerun.Row("model/a", "sha256:" + "a" * 64, "identical", "9 outputs", "Slurm job 4 on n1"),
        rerun.Row("model/b", "", "ERROR", "was cancelled", "Slurm job 5 on n2"),
    ]
    lines = rerun.summary(away).splitlines()
    assert lines[0].split() == ["revision", "image", "where", "verdict", "detail"]
    assert lines[1].split()[2:8] == ["Slurm", "job", "4", "on", "n1", "identical"]
    assert lines[2].split()[:3] == ["model/b", "-", "Slurm"]
