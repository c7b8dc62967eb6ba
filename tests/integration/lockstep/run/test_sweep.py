"""`invoke sweep`: a grid of params as a Slurm job array, each point a DVC experiment.

Each experiment holds its params, its results and their lineage: the image, the machine, and
the job and node that ran it; the workspace is as it was.
"""

from __future__ import annotations

import json

import pytest
import yaml
from lockstep.records import lineage

from tests.support import projects

pytestmark = pytest.mark.docker


def test_a_grid_of_four_runs_as_a_job_array_of_four_experiments_with_lineage(
    kit, history, slurm_cluster
) -> None:
    before = projects.checkout_state(history.root)
    grid = ["-S", "train.max_iter=20,30", "-S", "train.learning_rate=0.05,0.1"]

    proc = kit.invoke(
        history.root,
        "sweep",
        "--on",
        "slurm",
        "--name",
        "grid",
        "--",
        *grid,
        env=slurm_cluster.env(),
    )

    refs = kit.git(history.root, "for-each-ref", "--format=%(refname)", "refs/exps").split()
    named = {ref.rsplit("/", 1)[1]: ref for ref in refs}
    assert {f"grid-{n}" for n in range(1, 5)} <= set(named), refs
    seen, jobs = set(), set()
    for n in range(1, 5):
        ref = named[f"grid-{n}"]
        train = yaml.safe_load(kit.git(history.root, "show", f"{ref}:params.yaml"))["train"]
        seen.add((train["max_iter"], train["learning_rate"]))
        record = json.loads(kit.git(history.root, "show", f"{ref}:{lineage.PATH}"))
        run = record["stages"]["train"]
        assert run["image_id"] == history.image_id
        assert run["job"]["scheduler"] == "slurm" and run["job"]["node"], run
        assert run["machine"], run
        jobs.add(run["job"]["id"])
        assert f"grid-{n}" in proc.stdout
    assert seen == {(20, 0.05), (20, 0.1), (30, 0.05), (30, 0.1)}
    # One array: ids ARRAY_0 .. ARRAY_3.
    assert len({job.split("_")[0] for job in jobs}) == 1 and len(jobs) == 4, jobs
    assert proc.stdout.count(" saved") == 4, proc.stdout
    assert projects.checkout_state(history.root) == before
    assert kit.git(history.root, "worktree", "list").count("\n") == 1


@pytest.mark.parametrize(
    ("given", "error"),
    [
        (["-S", "train.max_iter=[1,"], "error: cannot read -S train.max_iter=[1,: "),
        (["-S"], "error: argument -S/--set-param: expected one argument; "),
        (["--queue"], "error: after --, only -S/--set-param, not --queue; "),
        ([], "error: a sweep needs params to vary; "),
    ],
)
def test_params_it_cannot_read_are_one_line_before_any_job(
    kit, history, slurm_cluster, given, error
) -> None:
    proc = kit.invoke(
        history.root, "sweep", "--on", "slurm", "--", *given, env=slurm_cluster.env(), check=False
    )

    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [proc.stderr.splitlines()[-1]], proc.stderr
    assert proc.stderr.startswith(error) and "use DVC's experiment syntax" in proc.stderr
