"""`invoke exp run` in the image: an experiment whose commit holds the lineage of what it ran."""

from __future__ import annotations

import os

import pytest
import yaml
from lockstep.records import lineage

from tests.support import commands

pytestmark = pytest.mark.docker

NAME = "max-iter-50"


@pytest.fixture(scope="module")
def experiment(kit, runtime_image):
    """A copy with committed results, then an experiment on it; its baseline, ref and run."""
    project = kit.reproduced("experiment")
    baseline = kit.git(project, "rev-parse", "HEAD").strip()
    proc = kit.invoke(project, "exp", "run", "--", "-S", "train.max_iter=50", "-n", NAME)
    return project, baseline, f"refs/exps/{baseline[:2]}/{baseline[2:]}/{NAME}", proc


def test_the_experiment_is_dvcs_own(kit, experiment) -> None:
    project, baseline, ref, proc = experiment
    assert f"--user {os.getuid()}:{os.getgid()}" in proc.stderr
    assert NAME in kit.dvc(project, "exp", "list", "--name-only").stdout.split()
    assert kit.git(project, "rev-parse", f"{ref}^").strip() == baseline
    params = yaml.safe_load(kit.git(project, "show", f"{ref}:params.yaml"))
    assert params["train"]["max_iter"] == 50
    # DVC committed it in the container as the invoking user's git identity.
    author = kit.git(project, "log", "-1", "--format=%an <%ae>|%cn <%ce>", ref).strip()
    identity = commands.GIT_IDENTITY
    expected = f"{identity['GIT_AUTHOR_NAME']} <{identity['GIT_AUTHOR_EMAIL']}>"
    assert author == f"{expected}|{expected}"


def test_its_commit_holds_the_lineage_of_the_stages_it_ran(kit, experiment, runtime_image):
    project, baseline, ref, _ = experiment
    record = lineage.read_at(project, ref)
    lock = yaml.safe_load(kit.git(project, "show", f"{ref}:dvc.lock"))
    assert lineage.disagreements(record, lock) == []
    before = lineage.read_at(project, baseline)
    ran = {name for name, run in record.stages.items() if run != before.stages[name]}
    # max_iter is train's; evaluate reads the model, the report its metrics
    assert ran == {"train", "evaluate", "report"}
    for name in ran:
        env = record.stages[name].environment
        assert env.where == "container", name
        assert env.image_tag == runtime_image.tag, name
        assert env.image_id == kit.image_id(runtime_image.tag), name
        assert env.fingerprint == runtime_image.fingerprint, name
        assert env.commit == baseline, name
    # Only the lineage was added: the rest is the commit DVC made, applied to the workspace.
    changed = kit.git(project, "diff", "--name-only", ref, "--", ".").split()
    assert changed == []


def test_the_workspace_belongs_to_the_invoking_user(experiment) -> None:
    project = experiment[0]
    foreign = [
        str(path.relative_to(project))
        for path in [project, *project.rglob("*")]
        if (path.lstat().st_uid, path.lstat().st_gid) != (os.getuid(), os.getgid())
    ]
    assert not foreign, "files the run left to another user:\n" + "\n".join(foreign)


def test_a_queued_experiment_is_refused_in_one_line(kit, experiment) -> None:
    project = experiment[0]
    refs = kit.git(project, "for-each-ref", "refs/exps/")

    proc = kit.invoke(project, "exp", "run", "--", "-S", "train.seed=8", "--queue", check=False)

    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: `dvc exp run --queue` would run outside the image, with no lineage; "
        "run experiments one at a time in the workspace: drop --queue"
    )
    assert kit.git(project, "for-each-ref", "refs/exps/") == refs
