"""The project template: this repository is its rendering with the example's answers, byte for
byte, and other answers give projects that are consistent by construction.

Only the kit's repository has this test: it needs the template beside the files it renders.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import lockstep
import pytest
import yaml
from lockstep import config
from lockstep.errors import TemplateError
from lockstep.scaffold import template

from tests.support import markdown

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((REPO / "template" / "example-answers.yml").read_text())
# What the template does not make: what running the pipeline writes, and the template itself.
NOT_RENDERED = ("dvc.lock", "environment.yaml", "outputs/", "reports/", "images/", "copier.yml")
TEMPLATE_ITSELF = "template/"
PINNED = "127.0.0.1:5000/base@sha256:" + "ab" * 32
# The example's own tasks, which other projects leave out (see template/project/tasks.py.jinja),
# and `refresh`, offered only with [tool.lockstep.refresh] settings, which only the example has.
EXAMPLE_TASKS = {"bench", "refresh", "wheel"}
BIN = Path(sys.executable).parent


def render(dest: Path, **answers) -> Path:
    """Render the working tree's template (uncommitted changes included) into `dest`."""
    template.render(str(REPO), dest, answers, defaults=True, vcs_ref="HEAD")
    return dest


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()}


def repository_files() -> set[str]:
    """Tracked files and untracked ones git does not ignore: what a commit of the tree holds."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {name for name in listed.split("\0") if name and (REPO / name).is_file()}


def foreign_imports(tasks: Path, *own: str) -> set[str]:
    """Top-level modules tasks.py imports that are neither the standard library's nor `own`."""
    modules = set()
    for node in ast.parse(tasks.read_text()).body:
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add((node.module or "").split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"invoke", "lockstep", *own}


def task_names(project: Path) -> set[str]:
    """Load a project's tasks.py as invoke does; the names of its tasks."""
    code = "import tasks; print(' '.join(tasks.namespace.task_names))"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env={**os.environ, "PYTHONPATH": f"{project / 'src'}{os.pathsep}{project}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"{project / 'tasks.py'} does not load:\n{proc.stderr}"
    return set(proc.stdout.split())


def lint(project: Path, *paths: str) -> None:
    """ruff check and format check, with the project's own settings."""
    for args in (["check"], ["format", "--check"]):
        proc = subprocess.run(
            [BIN / "ruff", *args, *paths], cwd=project, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, f"ruff {' '.join(args)} in {project}:\n{proc.stdout}"


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    return render(tmp_path_factory.mktemp("example") / "lockstep", **EXAMPLE)


@pytest.fixture(scope="module")
def skeleton(tmp_path_factory) -> Path:
    return render(tmp_path_factory.mktemp("new") / "churn-model", mode="new")


@pytest.fixture(scope="module")
def adopted(tmp_path_factory) -> Path:
    return render(tmp_path_factory.mktemp("adopt") / "theirs", mode="adopt")


def test_every_rendered_file_is_this_repositorys_own(example):
    rendered = files(example) - {template.ANSWERS_FILE}
    differ = []
    for name in sorted(rendered):
        ours, theirs = REPO / name, example / name
        if not ours.is_file() or ours.read_bytes() != theirs.read_bytes():
            differ.append(name)
        elif os.access(ours, os.X_OK) != os.access(theirs, os.X_OK):
            differ.append(f"{name} (executable bit)")
    assert not differ, (
        "the template renders these differently from the repository: "
        f"{', '.join(differ)} (edit template/project, or the file it includes)"
    )


def test_every_repository_file_comes_from_the_template(example):
    made = files(example)
    missing = sorted(
        name
        for name in repository_files()
        if name not in made and not name.startswith((*NOT_RENDERED, TEMPLATE_ITSELF))
    )
    assert not missing, (
        f"not in the template: {', '.join(missing)} "
        "(add them to template/project, as symlinks to the repository's files if they are "
        "the same in every project)"
    )


def test_the_example_answers_are_recorded_with_the_template_version(example):
    recorded = template.read_answers(example)
    assert recorded["_src_path"] == str(REPO)
    assert recorded["_commit"]
    assert {key: recorded[key] for key in EXAMPLE if key != "example"} == {
        key: value for key, value in EXAMPLE.items() if key != "example"
    }


def test_a_new_project_gets_the_skeleton_pipeline_and_none_of_the_example(skeleton):
    made = files(skeleton)
    assert {
        "src/churn_model/params.py",
        "src/churn_model/stages/prepare.py",
        "src/churn_model/stages/train.py",
        "src/churn_model/stages/evaluate.py",
        "tests/unit/churn_model/test_stages.py",
        "docker/Dockerfile",
        "docker/base/packages.lock",
        ".devcontainer/devcontainer.json",
        ".github/workflows/ci.yml",
        ".ci/run",
        "poetry.lock",
        "inv",
    } <= made
    assert not [name for name in made if "credit" in name]
    for absent in ("tests/integration", "tests/pipeline", "benchmarks", "dvc.lock"):
        assert not (skeleton / absent).exists(), absent
    assert not (skeleton / ".github/workflows/refresh.yml").exists()
    # The kit is pinned in the lock, not copied: no kit, and none of the kit's tests.
    assert not (skeleton / "src/lockstep").exists()
    assert not (skeleton / "tests/unit/lockstep").exists()
    for name in ("tasks.py", "README.md", "pyproject.toml", ".devcontainer/devcontainer.json"):
        text = (skeleton / name).read_text()
        assert "credit_model" not in text and "credit-model" not in text, name


def test_a_new_projects_readme_carries_the_kits_manual_and_links_only_within_itself(skeleton):
    """The kit's docs/ pages every project shares become sections of its README (a project has
    no docs/ of its own): each page's title is a section, and no link leads out of the project."""
    jinja = (REPO / "template/project/{% if not example %}README.md{% endif %}.jinja").read_text()
    shared = re.search(r"KIT_PAGES = \(([^)]*)\)", jinja).group(1)
    pages = re.findall(r'"([\w-]+)"', shared)
    assert len(pages) >= 10, pages
    readme = skeleton / "README.md"
    sections = re.findall(r"^## (.+)$", readme.read_text(), re.M)
    for page in pages:
        title = (REPO / "docs" / f"{page}.md").read_text().splitlines()[0]
        assert title.startswith("# ") and title[2:] in sections, f"{page}: {title}"
    assert not markdown.broken_links(readme, skeleton)
    assert markdown.links(readme.read_text()), "the README links nothing (none to check)"


def test_a_new_projects_stages_params_and_modules_share_one_word(skeleton):
    stages = yaml.safe_load((skeleton / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load((skeleton / "params.yaml").read_text())
    modules = {p.stem for p in (skeleton / "src/churn_model/stages").glob("[!_]*.py")}
    assert list(stages) == list(params) == ["prepare", "train", "evaluate"]
    assert modules == set(stages)
    for name, stage in stages.items():
        assert f"churn_model.stages.{name}" in stage["cmd"]
        assert {"environment.yaml": ["fingerprint"]} in stage["params"]


def test_a_new_project_pins_the_kit_of_this_version(skeleton):
    version = tomllib.loads((REPO / "kit/pyproject.toml").read_text())["project"]["version"]
    assert version == lockstep.__version__
    questions = yaml.safe_load((REPO / "copier.yml").read_text())
    assert questions["kit_version"]["default"] == version
    data = tomllib.loads((skeleton / "pyproject.toml").read_text())
    # The stages import its runtime in the image; the host's tasks need its `cli` extra.
    assert f"lockstep-kit (=={version})" in data["project"]["dependencies"]
    dev = data["tool"]["poetry"]["group"]["dev"]["dependencies"]
    assert dev["lockstep-kit"] == {"version": f"=={version}", "extras": ["cli"]}
    assert "scripts" not in data["project"]  # the kit's distribution has the command
    # The rest is the example's: `lockstep new` locks from its lock, keeping what fits.
    ours = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert [d for d in data["project"]["dependencies"] if "lockstep" not in d] == ours


def test_adopt_mode_renders_only_the_kits_files(adopted):
    project = adopted
    top = {name.split("/")[0] for name in files(project)}
    assert top == {
        ".copier-answers.yml",
        ".devcontainer",
        ".dockerignore",
        "docker",
        "inv",
        "poetry.lock",
        "pyproject.toml",
        "tasks.py",
    }
    tasks = (project / "tasks.py").read_text()
    assert "from lockstep.tasks import collection" in tasks
    assert "credit" not in tasks and "bench" not in tasks
    assert foreign_imports(project / "tasks.py") == set()
    assert config.load(project).params == ""  # the kit's own check of params.yaml
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    # No package of its own (its stages run from the workspace); the kit pinned, not copied.
    assert pyproject["tool"]["poetry"]["package-mode"] is False
    assert f"lockstep-kit (=={lockstep.__version__})" in pyproject["project"]["dependencies"]
    assert config.load(project).image == "theirs"


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_name": "Churn Model"}, "lowercase letters"),
        ({"package_name": "lockstep"}, "'lockstep' is taken"),
        ({"base_image": "debian:bookworm"}, "pin the image by digest"),
        ({"python_version": "3.12"}, "no Debian release ships Python 3.12"),
        ({"python_version": "3.10"}, "python_version"),
        ({"description": 'say "hi"'}, "without double quotes"),
        ({"registry": "https://registry.local"}, "without a scheme"),
    ],
)
def test_invalid_answers_are_refused_with_one_line(tmp_path, answers, message):
    with pytest.raises(TemplateError, match=message):
        render(tmp_path / "p", **answers)
    assert not (tmp_path / "p" / "pyproject.toml").exists()


@pytest.mark.parametrize("kind", ["skeleton", "adopted"])
def test_the_kits_tasks_less_the_examples_load_and_pass_lint(kind, request):
    project = request.getfixturevalue(kind)
    assert task_names(project) == task_names(REPO) - EXAMPLE_TASKS
    lint(project, "tasks.py")
    if kind == "skeleton":
        lint(project, "src", "tests")
