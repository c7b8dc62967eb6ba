"""Unit tests for the pure parts of lockstep.toolchain: pinned tools and the fingerprint."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from lockstep import paths, shell, toolchain, tools
from lockstep.errors import CommandError, LockfileError

from tests.support import commands

REPO = Path(__file__).resolve().parents[3]

PYPROJECT = """\
[project]
name = "demo"
version = "0.1.0"
dependencies = [
    "numpy (==2.4.6)",
    "pandas (==3.1.1)",
]

[tool.poetry]
requires-poetry = "==2.5.1"

[tool.poetry.requires-plugins]
poetry-plugin-export = "==1.10.1"

[tool.poetry.group.dev.dependencies]
pytest = "==9.2.0"

[tool.ruff]
line-length = 100
"""

LOCK = """\
[[package]]
name = "numpy"
version = "2.4.6"

[metadata]
content-hash = "abc"
"""


TOOLCHAIN = """\
poetry==2.5.1 \\
    --hash=sha256:aaaa
poetry-plugin-export==1.10.1 \\
    --hash=sha256:bbbb
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A minimal project: pyproject.toml, poetry.lock and the toolchain module itself."""
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "poetry.lock").write_text(LOCK)
    target = tmp_path / "src" / "lockstep" / "toolchain.py"
    target.parent.mkdir(parents=True)
    shutil.copyfile(REPO / "src" / "lockstep" / "toolchain.py", target)
    locked = tmp_path / tools.TOOLCHAIN
    locked.parent.mkdir(parents=True)
    locked.write_text(TOOLCHAIN)
    (tmp_path / tools.UV_TOOLCHAIN).write_text("uv==0.13.9 \\\n    --hash=sha256:cccc\n")
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_poetry_specs_reads_poetry_and_plugins(project: Path) -> None:
    assert tools.poetry_specs(project) == [
        "poetry==2.5.1",
        "poetry-plugin-export==1.10.1",
    ]


def test_poetry_specs_without_plugins(project: Path) -> None:
    edit(
        project / "pyproject.toml",
        '[tool.poetry.requires-plugins]\npoetry-plugin-export = "==1.10.1"\n',
        "",
    )
    assert tools.poetry_specs(project) == ["poetry==2.5.1"]


def test_poetry_specs_of_this_repo_pin_exact_versions() -> None:
    specs = tools.poetry_specs(REPO)
    assert specs[0].startswith("poetry==")
    assert all("==" in spec for spec in specs)


def test_inputs_digest_is_stable(project: Path) -> None:
    first = toolchain.inputs_digest(project)
    assert first == toolchain.inputs_digest(project)
    assert len(first) == 64
    int(first, 16)


def test_inputs_digest_changes_with_poetry_lock(project: Path) -> None:
    before = toolchain.inputs_digest(project)
    edit(project / "poetry.lock", 'version = "2.4.6"', 'version = "2.4.7"')
    assert toolchain.inputs_digest(project) != before


def test_inputs_digest_changes_with_project_dependencies(project: Path) -> None:
    before = toolchain.inputs_digest(project)
    edit(project / "pyproject.toml", '"pandas (==3.1.1)"', '"pandas (==3.1.2)"')
    assert toolchain.inputs_digest(project) != before


def test_inputs_digest_changes_with_poetry_settings(project: Path) -> None:
    before = toolchain.inputs_digest(project)
    edit(project / "pyproject.toml", 'pytest = "==9.2.0"', 'pytest = "==9.2.1"')
    assert toolchain.inputs_digest(project) != before


def test_inputs_digest_changes_with_the_toolchain_module(project: Path, monkeypatch) -> None:
    # The module that runs: a project's pinned kit's, or this checkout's.
    running = project / "src" / "lockstep" / "toolchain.py"
    monkeypatch.setattr(toolchain, "MODULE", running)
    before = toolchain.inputs_digest(project)
    with running.open("a") as handle:
        handle.write("\n# changed\n")
    assert toolchain.inputs_digest(project) != before


def test_inputs_digest_ignores_ruff_settings(project: Path) -> None:
    before = toolchain.inputs_digest(project)
    edit(project / "pyproject.toml", "line-length = 100", "line-length = 120")
    with (project / "pyproject.toml").open("a") as handle:
        handle.write('\n[tool.ruff.lint]\nselect = ["E", "F"]\n')
    assert toolchain.inputs_digest(project) == before


def test_inputs_digest_ignores_formatting_of_relevant_tables(project: Path) -> None:
    before = toolchain.inputs_digest(project)
    edit(project / "pyproject.toml", '    "numpy (==2.4.6)",\n', '  "numpy (==2.4.6)",  # pinned\n')
    assert toolchain.inputs_digest(project) == before


def test_inputs_digest_changes_with_the_toolchain_lock(project: Path) -> None:
    before = toolchain.inputs_digest(project)
    edit(project / tools.TOOLCHAIN, "sha256:aaaa", "sha256:cccc")
    assert toolchain.inputs_digest(project) != before


def test_a_toolchain_lock_that_misses_a_pin_is_refused_before_installing(project) -> None:
    edit(project / "pyproject.toml", 'requires-poetry = "==2.5.1"', 'requires-poetry = "==2.6.0"')
    with pytest.raises(LockfileError) as caught:
        tools.ensure_poetry(project)
    assert str(caught.value) == (
        f"{tools.TOOLCHAIN} does not pin poetry==2.6.0 (pyproject.toml asks for it); "
        "regenerate it with the command at its top"
    )
    assert not (project / ".lockstep").exists()


def test_a_malformed_pyproject_is_one_line_from_the_wrapper(project, capsys) -> None:
    (project / "pyproject.toml").write_text("[project\n")
    with pytest.raises(SystemExit) as caught:
        toolchain.main(project, ["--list"])
    assert caught.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: pyproject.toml: ") and error.endswith("fix the TOML syntax")
    assert "\n" not in error


def test_this_repos_toolchain_lock_pins_what_pyproject_asks_for() -> None:
    text = (REPO / tools.TOOLCHAIN).read_text()
    for spec in tools.poetry_specs(REPO):
        assert f"\n{spec} \\\n" in text, spec
    assert "--hash=sha256:" in text


def test_a_failed_install_leaves_the_working_venv_as_it_was(project, monkeypatch) -> None:
    venv = project / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "invoke").write_text("the working environment")

    working = shell.run

    def broken(cmd, **kwargs):
        if "-r" in [str(part) for part in cmd]:
            raise CommandError("uv failed: no such version", returncode=1)
        return working(cmd, **kwargs)

    monkeypatch.setattr(shell, "run", broken)
    requirements = project / "requirements.txt"
    requirements.write_text("nothing==1.0 --hash=sha256:00\n")
    with pytest.raises(CommandError):
        toolchain.install(project, venv, requirements)
    assert (venv / "bin" / "invoke").read_text() == "the working environment"
    assert not venv.with_name(".venv.previous").exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["pull", "--help"], ["--help", "pull"]),
        (["rerun", "-h"], ["--help", "rerun"]),
        (["pull", "v1", "--help"], ["--help", "pull"]),
        (["repro"], ["repro"]),
        (["--list"], ["--list"]),
        (["--help", "pull"], ["--help", "pull"]),
        (["exp", "run", "--", "-S", "x=1", "--help"], ["exp", "run", "--", "-S", "x=1", "--help"]),
    ],
)
def test_a_tasks_help_is_asked_of_invoke_before_the_task(argv, expected) -> None:
    assert toolchain.help_first(argv) == expected


def test_a_second_inv_waits_for_the_install_and_then_installs_nothing(project, capsys) -> None:
    # Two ./inv in a fresh clone: the second must not install over the first one's work.
    holder = commands.lock_holder(project / paths.TOOLCHAIN_LOCK)
    (project / ".venv").mkdir()
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (toolchain.prepare(project), done.set()))
    waiter.start()
    assert not done.wait(1), "prepare went on while another ./inv was installing"
    # What the first one leaves when it is done: the stamp of these inputs. Without the
    # second look under the lock, prepare would now install (and fail: this project has no
    # Poetry to install from).
    (project / ".venv" / toolchain.STAMP).write_text(toolchain.inputs_digest(project))
    holder.communicate("done\n")
    waiter.join(10)
    assert done.is_set()
    assert "waiting for it to finish" in capsys.readouterr().err
