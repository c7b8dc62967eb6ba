import subprocess
import sys
from pathlib import Path

import pytest
from lockstep import git
from lockstep.errors import AttestationError
from lockstep.records import trees

from tests.unit.lockstep.records.conftest import FILES

PLOTS = ["plots/deep/calibration.csv", "plots/roc.csv"]


@pytest.fixture
def committed(project, git_identity):
    """The project a run left, a git and DVC repository with everything committed."""
    git.init(project)
    subprocess.run([Path(sys.executable).parent / "dvc", "init", "-q"], cwd=project, check=True)
    git.commit_all(project, "results")
    return project


def test_a_revision_reads_its_committed_files_and_the_workspace_its_own(committed):
    (committed / "model.pkl").write_bytes(b"another model")
    with trees.tree_at(committed, "HEAD") as tree:
        assert (tree.where, tree.files("plots")) == ("at HEAD", PLOTS)
        assert trees.read(tree, "model.pkl") == FILES["model.pkl"]
        at_head = trees.subjects(tree)
    with trees.tree_at(committed, "") as tree:
        assert (tree.where, tree.files("plots")) == ("in the workspace", PLOTS)
        here = trees.subjects(tree)
    assert set(at_head) == set(here) == {"dvc.lock", *FILES}
    assert [name for name in here if here[name] != at_head[name]] == ["model.pkl"]


@pytest.mark.parametrize(
    ("rev", "where", "remedy"),
    [("", "in the workspace", "`dvc checkout`"), ("HEAD", "at HEAD", "`invoke pull HEAD`")],
)
def test_a_missing_file_is_named_with_where_it_was_looked_for_and_how_to_bring_it(
    committed, rev, where, remedy
):
    with trees.tree_at(committed, rev) as tree:
        assert tree.files("nowhere.csv") == []
        with pytest.raises(AttestationError, match=f"^nowhere.csv {where} is missing") as caught:
            trees.sha256(tree, "nowhere.csv")
    assert remedy in caught.value.hint
