"""`lockstep new`: a project for each meaningful combination of answers passes its own test
command and runs its pipeline in its container, with lineage.

The combinations: the defaults (offline Debian bookworm bootstrap, Python 3.11, no container
registry); a registry base image pinned by digest with a container registry to push to; and
Python 3.13, which bootstraps Debian trixie (a base and a lock install of its own).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import lockstep
import pytest
import yaml
from lockstep import config
from lockstep.records import lineage

from tests.support import commands, projects, template

# Each project bootstraps its own .venv and image: minutes.
pytestmark = [pytest.mark.docker, pytest.mark.slow]


def combination(name: str, *marks: pytest.MarkDecorator):
    """One combination of answers, its tests on the worker that makes its project.

    The grouping in tests/conftest.py sees the fixtures a test names, not `made_<name>`, which
    `made` asks for by name: without this group, each worker made each project again.
    """
    return pytest.param(name, marks=[pytest.mark.xdist_group(f"test_new.made_{name}"), *marks])


COMBINATIONS = (
    combination("defaults"),
    combination("registry"),
    # Debian trixie is bootstrapped from the live mirror (no archive of its packages exists yet),
    # and its lock installed for Python 3.13: what the mirror and the index hold today.
    combination("python313", pytest.mark.network),
)
STAGES = ["prepare", "train", "evaluate"]


@dataclass
class Made:
    """A project made by `lockstep new`, with the output of its two Quickstart commands."""

    name: str
    root: Path
    answers: dict
    test_output: str
    repro_output: str


def make(name: str, request, kit_source, project_images, tmp_path_factory) -> Made:
    """Make a project with one combination of answers, then run its Quickstart's commands.

    The test command runs in the defaults' project only: it is the same suite in each (the
    skeleton's own tests), and the combinations differ in their images.
    """
    answers = {"project_name": f"tmpl-{name}", "description": f"The {name} combination."}
    if name == "registry":
        answers["base_image"] = request.getfixturevalue("pinned_base")
        answers["registry"] = request.getfixturevalue("registry").address
    if name == "python313":
        answers["python_version"] = "3.13"
    root = tmp_path_factory.mktemp(name) / answers["project_name"]
    data = [f"--data={key}={value}" for key, value in answers.items()]
    template.lockstep("new", root, "--defaults", f"--template={kit_source}", *data, cwd=root.parent)
    project_images.extend([answers["project_name"], answers["project_name"] + "-dev"])
    template.share_poetry(root)
    # The README's Quickstart, in the order a new user runs it.
    tested = template.inv(root, "test").stdout if name == "defaults" else ""
    reproduced = template.inv(root, "repro")
    return Made(name, root, answers, tested, reproduced.stderr)


@pytest.fixture(scope="module")
def made_defaults(request, kit_source, project_images, tmp_path_factory) -> Made:
    return make("defaults", request, kit_source, project_images, tmp_path_factory)


@pytest.fixture(scope="module")
def made_registry(request, kit_source, project_images, tmp_path_factory) -> Made:
    return make("registry", request, kit_source, project_images, tmp_path_factory)


@pytest.fixture(scope="module")
def made_python313(request, kit_source, project_images, tmp_path_factory) -> Made:
    return make("python313", request, kit_source, project_images, tmp_path_factory)


@pytest.fixture(params=COMBINATIONS)
def made(request) -> Made:
    return request.getfixturevalue(f"made_{request.param}")


def test_the_project_is_committed_with_its_template_version_and_answers(made):
    log = commands.git(made.root, "log", "--format=%s").splitlines()
    assert log == [f"New project from the lockstep template {template.KIT_VERSION}"]
    tracked = commands.git(made.root, "ls-files").split()
    assert {".copier-answers.yml", "dvc.yaml", "params.yaml", ".dvc/config", "inv"} <= set(tracked)
    recorded = yaml.safe_load((made.root / ".copier-answers.yml").read_text())
    assert recorded["_commit"] == template.KIT_VERSION
    assert {key: recorded[key] for key in made.answers} == made.answers
    # The kit is pinned, with its hashes, and never copied: src/ holds the project's package.
    assert [p.name for p in (made.root / "src").iterdir()] == [made.root.name.replace("-", "_")]
    locked = tomllib.loads((made.root / "poetry.lock").read_text())
    kit = next(p for p in locked["package"] if p["name"] == "lockstep-kit")
    assert kit["version"] == lockstep.__version__ and kit["files"][0]["hash"].startswith("sha256:")


def test_its_own_test_command_passes_without_skipping(made_defaults):
    summary = made_defaults.test_output.strip().splitlines()[-1]
    assert " passed" in summary, made_defaults.test_output
    assert "skipped" not in summary and "failed" not in summary, summary


def test_its_code_passes_its_own_lint(made):
    template.inv(made.root, "lint")


def test_its_pipeline_ran_in_its_image_with_lineage_for_every_stage(made, engine):
    record = json.loads((made.root / lineage.PATH).read_text())
    assert sorted(record["stages"]) == sorted(STAGES)
    fingerprint = yaml.safe_load((made.root / "environment.yaml").read_text())["fingerprint"]
    lock = lineage.read_dvc_lock(made.root)
    for stage, entry in record["stages"].items():
        assert entry["where"] == "container", stage
        assert entry["image_tag"].startswith(made.answers["project_name"] + ":"), stage
        assert entry["image_id"] == engine.image_id(entry["image_tag"]), stage
        assert entry["fingerprint"] == fingerprint, stage
        assert entry["outs"] == lineage.stage_outputs(lock, stage), stage
    metrics = json.loads((made.root / "reports/metrics.json").read_text())
    assert metrics["auc"] > 0.6


def test_the_base_image_is_what_the_answers_chose(made):
    entry = json.loads((made.root / lineage.PATH).read_text())["stages"]["prepare"]
    python = entry["python_version"]
    if made.name == "registry":
        assert entry["base_image"].startswith(made.answers["base_image"] + "@sha256:")
        assert not (made.root / "docker/base/packages.lock").exists()
    else:
        assert entry["base_image"].startswith("lockstep-base:")
    if made.name == "python313":
        assert python.startswith("3.13."), python
        manifest = (made.root / "docker/base/packages.lock").read_text()
        assert "# suite: trixie" in manifest  # written by the first build, to be committed
        # Its first `./inv repro` installed .venv, and the base's .deb files came meanwhile.
        downloaded = "base: the .deb files were downloaded while the toolchain installed"
        assert downloaded in made.repro_output, made.repro_output
    else:
        assert python.startswith("3.11."), python


def test_a_second_run_is_up_to_date(made):
    again = template.inv(made.root, "repro")
    assert "Running stage" not in again.stderr


def test_without_a_registry_answer_no_registry_is_set(made_defaults):
    assert config.load(made_defaults.root).registry == ""


def test_the_registry_answer_is_where_images_are_pushed(made_registry):
    made = made_registry
    template.inv(made.root, "push")
    record = json.loads((made.root / lineage.PATH).read_text())
    repository = f"{made.answers['registry']}/{made.answers['project_name']}"
    for stage, entry in record["stages"].items():
        assert entry["registry_repository"] == repository, stage
        assert entry["registry_digest"].startswith("sha256:"), stage


@pytest.mark.parametrize("name", ["defaults", "registry"])
def test_the_container_reproduces_a_native_run_byte_for_byte(name, request):
    # Where the image's Python is the host's (3.11): the same locked libraries, the same bytes.
    # Last in this module: the native run rewrites the lineage.
    made = request.getfixturevalue(f"made_{name}")
    contained = projects.out_hashes(made.root)
    template.inv(made.root, "repro", "--local", "--force")
    assert projects.out_hashes(made.root) == contained
