"""`lockstep update`: a project made from an older template takes the newer one's changes and
keeps its own edits; clashing edits are marked, never overwritten; a dirty tree is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support import commands
from tests.support.template import lockstep

pytestmark = pytest.mark.docker

OLD, NEW = "v1.0.0", "v1.1.0"
SKELETON_PARAMS = "template/project/{% if not example %}params.yaml{% endif %}"


@pytest.fixture
def kit_clone(kit_source, tmp_path) -> Path:
    """A clone of the kit, so this test can publish a newer version of it."""
    clone = tmp_path / "kit"
    commands.run(["git", "clone", "--quiet", kit_source, clone], tmp_path)
    return clone


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} has no {old!r}"
    path.write_text(text.replace(old, new, 1))


def make_project(kit_clone: Path, root: Path) -> Path:
    lockstep(
        "new", root, "--defaults", f"--template={kit_clone}", f"--vcs-ref={OLD}", cwd=root.parent
    )
    return root


def release(kit_clone: Path, change) -> None:
    """Publish the template's next version with `change` made to it."""
    change(kit_clone)
    commands.commit_all(kit_clone, "the next version", NEW)


def test_the_template_change_arrives_and_the_users_edit_survives(kit_clone, tmp_path):
    project = make_project(kit_clone, tmp_path / "ours")
    # The user's edits: a param of theirs, and a line of their own in the README.
    edit(project / "params.yaml", "seed: 20240101", "seed: 7")
    with (project / "README.md").open("a") as readme:
        readme.write("\nOur team's notes.\n")
    commands.commit_all(project, "our edits")

    def change(kit: Path) -> None:
        # In a file the user edited too (other lines), and in the vendored kit.
        edit(kit / SKELETON_PARAMS, "max_iter: 500", "max_iter: 800")
        edit(kit / "src/lockstep/__init__.py", '__version__ = "', '__version__ = "1.1.0+')

    release(kit_clone, change)

    (project / "notes.txt").write_text("not committed yet\n")
    refused = lockstep("update", project, cwd=project, check=False)
    assert refused.returncode == 2
    assert "has uncommitted changes; commit or stash them first" in refused.stderr
    (project / "notes.txt").unlink()

    updated = lockstep("update", project, cwd=project)
    assert f"updated from the template {OLD} to {NEW}" in updated.stdout
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["prepare"]["seed"] == 7  # theirs, kept
    assert params["train"]["max_iter"] == 800  # the template's, arrived
    assert "Our team's notes." in (project / "README.md").read_text()
    assert '__version__ = "1.1.0+' in (project / "src/lockstep/__init__.py").read_text()
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == NEW
    # Left for review, not committed.
    status = commands.git(project, "status", "--porcelain")
    assert " M params.yaml" in status and " M src/lockstep/__init__.py" in status

    commands.commit_all(project, "update the template")
    again = lockstep("update", project, cwd=project)
    assert f"up to date with the template {NEW}" in again.stdout


def test_clashing_edits_are_marked_and_never_overwritten(kit_clone, tmp_path):
    project = make_project(kit_clone, tmp_path / "ours")
    edit(project / "params.yaml", "max_iter: 500", "max_iter: 300")
    commands.commit_all(project, "fewer iterations")
    release(kit_clone, lambda kit: edit(kit / SKELETON_PARAMS, "max_iter: 500", "max_iter: 800"))

    updated = lockstep("update", project, cwd=project, check=False)
    assert updated.returncode == 1
    assert "conflict  params.yaml" in updated.stdout
    assert "resolve the conflict markers" in updated.stderr
    text = (project / "params.yaml").read_text()
    assert "<<<<<<< before updating" in text and ">>>>>>> after updating" in text
    assert "max_iter: 300" in text and "max_iter: 800" in text
    unmerged = commands.git(project, "diff", "--name-only", "--diff-filter=U").split()
    assert unmerged == ["params.yaml"]
