"""`lockstep update`: a project made from an older template takes a newer kit (its pin, and the
template of its version) and keeps its own edits; clashing edits are marked, never overwritten;
a dirty tree is refused."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import lockstep as kit_package
import pytest
import yaml

from kit.tasks import build_wheel
from tests.support import commands, template
from tests.support.template import lockstep

pytestmark = pytest.mark.docker

OLD, NEW = "v1.0.0", "v1.1.0"
NEXT_KIT = "9.9.9"
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


def bump_kit(kit: Path, version: str) -> None:
    """The kit's next version, as its release makes it: the distribution and the template's pin."""
    edit(
        kit / "kit/pyproject.toml",
        f'version = "{kit_package.__version__}"',
        f'version = "{version}"',
    )
    init = kit / "kit/src/lockstep/__init__.py"
    edit(init, f'__version__ = "{kit_package.__version__}"', f'__version__ = "{version}"')
    edit(kit / "copier.yml", f'default: "{kit_package.__version__}"', f'default: "{version}"')


def test_a_kit_upgrade_arrives_and_the_users_edits_survive(kit_clone, kit_index, tmp_path):
    project = make_project(kit_clone, tmp_path / "ours")
    # The user's edits: a param, a line of their own in the README, and their own code.
    edit(project / "params.yaml", "seed: 20240101", "seed: 7")
    with (project / "README.md").open("a") as readme:
        readme.write("\nOur team's notes.\n")
    stage = project / "src/ours/stages/train.py"
    stage.write_text(stage.read_text() + "\n# Our own change.\n")
    commands.commit_all(project, "our edits")

    def change(kit: Path) -> None:
        # The kit's next version, and a template change in a file the user edited too.
        bump_kit(kit, NEXT_KIT)
        edit(kit / SKELETON_PARAMS, "max_iter: 500", "max_iter: 800")

    release(kit_clone, change)
    template.share_poetry(kit_clone)
    kit_index.add(build_wheel(kit_clone, tmp_path / "next"))

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
    assert stage.read_text().endswith("# Our own change.\n")
    assert f"lockstep-kit (=={NEXT_KIT})" in (project / "pyproject.toml").read_text()
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == NEW
    # Left for review, not committed, with no conflict; the lock is the project's own.
    status = commands.git(project, "status", "--porcelain")
    assert " M params.yaml" in status and " M pyproject.toml" in status
    assert "poetry.lock" not in status and not commands.git(
        project, "diff", "--name-only", "--diff-filter=U"
    )

    template.inv(project, "lock")
    locked = tomllib.loads((project / "poetry.lock").read_text())
    kit = next(p for p in locked["package"] if p["name"] == "lockstep-kit")
    wheel = kit_index.folder / "files" / f"lockstep_kit-{NEXT_KIT}-py3-none-any.whl"
    assert kit["version"] == NEXT_KIT
    assert kit["files"][0]["hash"] == f"sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}"

    commands.commit_all(project, "lockstep-kit " + NEXT_KIT)
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
