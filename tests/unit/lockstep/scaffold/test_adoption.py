"""`lockstep adopt`'s edits to an existing DVC project: additions only, never a rewrite."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from lockstep.errors import TemplateError
from lockstep.scaffold import adoption

# As `dvc stage add` writes it: sequences not indented under their key.
DVC_STYLE = """\
stages:
  prepare:
    cmd: python prepare.py data/raw.csv data/clean.csv
    deps:
    - data/raw.csv
    - prepare.py
    outs:
    - data/clean.csv
  train:
    cmd: python train.py
    deps:
    - data/clean.csv
    params:
    - train.seed
    outs:
    - model.json
"""

# Hand-written: indented sequences, comments, a folded command, quotes, a foreach stage, plots.
HAND_STYLE = """\
# Our pipeline. Do not reorder.
stages:
  fetch:
    # The source is fixed for now.
    cmd: >-
      python -m ours.fetch --source "s3://not-used"
      --out data/raw.csv
    outs:
      - data/raw.csv  # the extract
  score:
    foreach: [a, b]
    do:
      cmd: python score.py ${item}
      deps:
        - data/raw.csv
      params:
        - params.yaml:
            - score.${item}
        - environment.yaml:
            - fingerprint
      outs:
        - 'scores/${item}.csv'
plots:
  - scores/a.csv:
      x: x
"""


def added_only(before: str, after: str) -> list[str]:
    """The lines `after` adds to `before`, asserting it removes or changes none."""
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    assert not [line for line in diff if line.startswith("- ")], "\n".join(diff)
    return [line[2:] for line in diff if line.startswith("+ ")]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dvc.yaml"
    path.write_text(text)
    return path


def test_dvc_style_stages_gain_the_fingerprint_and_nothing_else_changes(tmp_path):
    path = write(tmp_path, DVC_STYLE)
    assert adoption.depend_on_environment(path) == ["prepare", "train"]
    added = added_only(DVC_STYLE, path.read_text())
    assert added == [
        "    params:",
        "    - environment.yaml:",
        "      - fingerprint",
        "    - environment.yaml:",
        "      - fingerprint",
    ]
    stages = yaml.safe_load(path.read_text())["stages"]
    assert stages["prepare"]["params"] == [{"environment.yaml": ["fingerprint"]}]
    assert stages["train"]["params"] == ["train.seed", {"environment.yaml": ["fingerprint"]}]
    # Placed after the stage's dependencies, where DVC puts params.
    assert list(stages["prepare"]) == ["cmd", "deps", "params", "outs"]


def test_hand_written_files_keep_comments_quotes_and_folded_commands(tmp_path):
    path = write(tmp_path, HAND_STYLE)
    assert adoption.depend_on_environment(path) == ["fetch"]
    assert added_only(HAND_STYLE, path.read_text()) == [
        "    params:",
        "      - environment.yaml:",
        "          - fingerprint",
    ]


def test_a_second_run_changes_nothing(tmp_path):
    path = write(tmp_path, DVC_STYLE)
    adoption.depend_on_environment(path)
    once = path.read_text()
    assert adoption.depend_on_environment(path) == []
    assert path.read_text() == once


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (DVC_STYLE, {"mapping": 2, "sequence": 2, "offset": 0}),
        (HAND_STYLE, {"mapping": 2, "sequence": 4, "offset": 2}),
        ("stages:\n    a:\n        cmd: x\n", {"mapping": 4, "sequence": 4, "offset": 2}),
    ],
)
def test_indentation_follows_the_file(text, expected):
    assert adoption.indentation(text) == expected


def test_gitignore_gains_only_what_it_lacks(tmp_path):
    path = tmp_path / ".gitignore"
    path.write_text("/data/\n/.venv/")
    assert adoption.ignore_kit_folders(path) == ["/.lockstep/", "__pycache__/"]
    assert path.read_text().startswith("/data/\n/.venv/\n# lockstep:")
    assert adoption.ignore_kit_folders(path) == []


def test_clashing_files_are_named_but_pyproject_is_merged(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "tasks.py").write_text("")
    adoption.refuse_clashes(tmp_path, [Path("inv"), Path("pyproject.toml")])
    with pytest.raises(TemplateError, match=r"already has tasks.py; move them aside"):
        adoption.refuse_clashes(tmp_path, [Path("pyproject.toml"), Path("tasks.py"), Path("inv")])


def test_environment_yaml_is_written_once_so_plain_dvc_repro_works(tmp_path):
    assert adoption.write_environment(tmp_path)
    assert yaml.safe_load((tmp_path / "environment.yaml").read_text()) == {
        "fingerprint": "unbuilt",
        "image": None,
    }
    (tmp_path / "environment.yaml").write_text("fingerprint: abc\n")
    assert not adoption.write_environment(tmp_path)
    assert (tmp_path / "environment.yaml").read_text() == "fingerprint: abc\n"


@pytest.mark.parametrize("replace", [False, True])
def test_the_remote_answer_replaces_their_default_only_when_chosen(tmp_path, replace):
    project = git_project(tmp_path, {"README.md": "x\n"})
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "init", "-q"], cwd=project, check=True)
    assert adoption.use_remote(project, "/srv/ours", replace=False) is None  # none before
    subprocess.run([*dvc, "remote", "add", "-d", "theirs", "/srv/theirs"], cwd=project, check=True)
    kept = adoption.use_remote(project, "/srv/ours", replace=replace)
    default = subprocess.run(
        [*dvc, "remote", "default"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert (kept, default) == ((None, "lockstep") if replace else ("theirs", "theirs"))


def test_the_readme_gains_the_kits_commands_after_its_own_text(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Theirs\nno newline at the end")
    adoption.add_readme_section(readme)
    text = readme.read_text()
    assert text.startswith("# Theirs\nno newline at the end\n\n## Reproducible runs (lockstep)\n")
    assert "./inv repro" in text
    made = tmp_path / "new" / "README.md"
    made.parent.mkdir()
    adoption.add_readme_section(made)
    assert made.read_text().startswith("# new\n\n## Reproducible runs (lockstep)\n")


def git_project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], [*identity, "commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"README.md": ""}, "is not a DVC project"),
        ({"dvc.yaml": DVC_STYLE}, "is not a DVC project"),
        (
            {"dvc.yaml": DVC_STYLE, ".dvc/config": "", ".copier-answers.yml": ""},
            "already uses the lockstep kit",
        ),
        (
            {"dvc.yaml": DVC_STYLE, ".dvc/config": "", "pyproject.toml": "[tool.lockstep]\n"},
            r"already uses the lockstep kit \(\[tool.lockstep\]\)",
        ),
    ],
)
def test_what_cannot_be_adopted_says_why(tmp_path, files, message):
    with pytest.raises(TemplateError, match=message):
        adoption.check_adoptable(git_project(tmp_path, files))


def test_uncommitted_changes_are_refused(tmp_path):
    root = git_project(tmp_path, {"dvc.yaml": DVC_STYLE, ".dvc/config": ""})
    adoption.check_adoptable(root)
    (root / "dvc.yaml").write_text(DVC_STYLE + "# edited\n")
    with pytest.raises(TemplateError, match="uncommitted changes"):
        adoption.check_adoptable(root)
