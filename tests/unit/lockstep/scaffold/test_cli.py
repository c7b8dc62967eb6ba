"""The `lockstep` command's own behaviour: mistakes end in one line and exit code 2."""

from __future__ import annotations

from pathlib import Path

import lockstep
import pytest
from lockstep.errors import TemplateError
from lockstep.scaffold import cli, template


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_the_three_commands_and_the_questions(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for command in ("new", "update", "adopt"):
        assert command in text
    with pytest.raises(SystemExit):
        cli.main(["new", "--help"])
    text = capsys.readouterr().out
    for question in ("project_name", "package_name", "base_image", "python_version", "registry"):
        assert question in text


def test_new_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "new", str(tmp_path), "--defaults")
    assert code == 2
    assert err == f"error: {tmp_path} exists and is not empty; choose a new folder\n"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_malformed_answer_is_refused_before_anything_is_written(tmp_path, capsys):
    code, _, err = run(capsys, "new", str(tmp_path / "p"), "--data", "project_name")
    assert (code, err) == (2, "error: --data 'project_name': expected NAME=VALUE; see --help\n")
    answers = tmp_path / "answers.yml"
    answers.write_text("- a list\n")
    code, _, err = run(capsys, "new", str(tmp_path / "p"), "--answers", str(answers))
    assert code == 2 and "expected a mapping of answers" in err
    assert not (tmp_path / "p").exists()


def test_update_outside_a_template_project_says_what_to_do(tmp_path, capsys):
    code, _, err = run(capsys, "update", str(tmp_path))
    assert code == 2
    assert "was not made from the lockstep template (no .copier-answers.yml)" in err
    assert "lockstep adopt" in err


def test_adopt_outside_a_dvc_project_says_what_to_do(tmp_path, capsys):
    code, _, err = run(capsys, "adopt", str(tmp_path))
    assert code == 2
    assert err.startswith(f"error: {tmp_path} is not a DVC project (no dvc.yaml and .dvc/)")


def test_the_template_is_the_kits_repository_or_the_one_a_project_recorded(tmp_path, monkeypatch):
    monkeypatch.delenv(template.SOURCE_ENV, raising=False)
    kit = tmp_path / "kit"
    kit.mkdir()
    with pytest.raises(TemplateError, match="pass --template"):
        template.default_source(kit)
    (kit / template.ANSWERS_FILE).write_text("_src_path: /srv/lockstep\n_commit: v1\n")
    assert template.default_source(kit) == "/srv/lockstep"
    (kit / "copier.yml").write_text("")
    assert template.default_source(kit) == str(kit)
    # Without --template, the root of the kit's clone (or of the project vendoring it) decides.
    assert (template.KIT_ROOT / "src/lockstep/scaffold/template.py").is_file()
    # A setting names another source (a local clone, a company mirror) before all of them.
    monkeypatch.setenv(template.SOURCE_ENV, "/srv/mirror")
    assert template.default_source(kit) == "/srv/mirror"


def test_an_installed_kit_takes_the_template_of_its_own_version(tmp_path):
    # Installed (no checkout around it): the tag of its version; a checkout: Copier's newest.
    assert template.default_ref(None) == f"v{lockstep.__version__}"
    assert template.default_ref(tmp_path) is None
    assert template._checkout(tmp_path / "site-packages/lockstep/scaffold/template.py") is None


def test_answers_come_from_the_file_then_data(tmp_path):
    answers = tmp_path / "answers.yml"
    answers.write_text("_commit: v1\nproject_name: a\nregistry: r\n")
    args = cli.parser().parse_args(
        ["new", "p", "--answers", str(answers), "--data", "project_name=b", "--data", "x=1=2"]
    )
    assert cli._answers(args) == {"project_name": "b", "registry": "r", "x": "1=2"}


def test_the_console_script_is_declared():
    pyproject = Path(__file__).resolve().parents[4] / "pyproject.toml"
    assert 'lockstep = "lockstep.scaffold.cli:main"' in pyproject.read_text()
