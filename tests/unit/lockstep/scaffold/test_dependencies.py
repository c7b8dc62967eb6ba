"""What `lockstep adopt` imports from a project's declared dependencies, and how it merges them."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from lockstep.errors import TemplateError
from lockstep.scaffold import dependencies

KIT = """\
[project]
name = "theirs"
description = "A reproducible model pipeline built with the lockstep kit."
requires-python = ">=3.11,<3.14"
dependencies = [
    "pandas (==3.1.1)",
    "dvc (==3.67.1)",
]

[project.scripts]
lockstep = "lockstep.scaffold.cli:main"

[tool.poetry]
packages = [{ include = "lockstep", from = "src" }]

[tool.lockstep]
image = "theirs"

[tool.ruff]
line-length = 100
"""


def names(found: dependencies.Declared) -> list[tuple[str, str]]:
    return [(origin, str(requirement)) for origin, requirement in found.requirements]


def test_requirements_files_are_read_as_pip_reads_them(tmp_path: Path):
    (tmp_path / "requirements.txt").write_text(
        "# ours\nscikit-learn>=1.3  # the model\n-r more.txt\n-e .\n"
        "--index-url https://packages.invalid/simple\n"
        "tool @ git+https://code.invalid/tool.git\n"
    )
    (tmp_path / "more.txt").write_text("toolz==1.2.0 \\\n    --hash=sha256:00\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src/requirements.txt").write_text("PyYAML>=6\n")
    found = dependencies.declared(tmp_path)
    assert names(found) == [
        ("requirements.txt", "scikit-learn>=1.3"),
        ("requirements.txt", "toolz==1.2.0"),
        ("requirements.txt", "tool @ git+https://code.invalid/tool.git"),
        ("src/requirements.txt", "PyYAML>=6"),
    ]
    assert found.skipped == ["requirements.txt: -e ."]
    assert found.sources() == ["requirements.txt", "src/requirements.txt"]


def test_setup_cfg_and_pyproject_dependencies_are_read(tmp_path: Path):
    (tmp_path / "setup.cfg").write_text(
        "[metadata]\nname = theirs\n\n[options]\ninstall_requires =\n"
        "    numpy>=1.26\n    jinja2  # reports\n"
    )
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["pandas>=2"]\n')
    assert names(dependencies.declared(tmp_path)) == [
        ("setup.cfg", "numpy>=1.26"),
        ("setup.cfg", "jinja2"),
        ("pyproject.toml", "pandas>=2"),
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("requirements.txt", "pandas>=>2\n", "requirements.txt:1: cannot read 'pandas>=>2'"),
        ("setup.cfg", "[options]\ninstall_requires =\n  pandas>=>2\n", "setup.cfg: 'pandas>=>2'"),
        ("pyproject.toml", "[project\n", "pyproject.toml: "),
    ],
)
def test_a_file_that_cannot_be_read_is_named(tmp_path: Path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(TemplateError, match="^" + message.replace("[", r"\[")):
        dependencies.declared(tmp_path)


def test_their_requirements_join_the_kits_pins(tmp_path: Path):
    (tmp_path / "requirements.txt").write_text("pandas>=2\njinja2>=3.1\ndvc[s3]\njinja2>=3.1\n")
    merged = tomllib.loads(dependencies.merge(KIT, None, dependencies.declared(tmp_path)))
    assert merged["project"]["dependencies"] == [
        "pandas (==3.1.1)",
        "dvc[s3]==3.67.1",
        "jinja2>=3.1",
    ]
    assert merged["tool"]["lockstep"] == {"image": "theirs"}


def test_a_requirement_that_refuses_the_kits_pin_says_what_to_do(tmp_path: Path):
    (tmp_path / "requirements.txt").write_text("pandas<2\n")
    with pytest.raises(TemplateError) as caught:
        dependencies.merge(KIT, None, dependencies.declared(tmp_path))
    assert str(caught.value) == (
        "requirements.txt asks for pandas<2 but the kit pins pandas 3.1.1; loosen it to accept "
        "3.1.1 (the kit's code is tested with it), commit, and adopt again"
    )


def test_their_pyproject_keeps_its_own_tables_and_the_kit_owns_its_own(tmp_path: Path):
    theirs = """\
# Our project.
[project]
name = "credit-scoring"
description = "Scores applications."
dynamic = ["version", "dependencies"]
dependencies = ["numpy>=1.26"]

[project.scripts]
score = "scoring.cli:main"

[build-system]
requires = ["setuptools"]

[tool.ruff]
line-length = 88

[tool.pytest.ini_options]
testpaths = ["checks"]

[tool.lockstep]
image = "planted"
"""
    (tmp_path / "pyproject.toml").write_text(theirs)
    found = dependencies.declared(tmp_path)
    merged = tomllib.loads(dependencies.merge(KIT, theirs, found))
    project = merged["project"]
    assert project["name"] == "credit-scoring" and project["description"] == "Scores applications."
    assert project["dynamic"] == ["version"]
    assert project["dependencies"] == ["pandas (==3.1.1)", "dvc (==3.67.1)", "numpy>=1.26"]
    assert project["requires-python"] == ">=3.11,<3.14"
    assert project["scripts"] == {
        "lockstep": "lockstep.scaffold.cli:main",
        "score": "scoring.cli:main",
    }
    assert merged["tool"]["ruff"] == {"line-length": 88}
    assert merged["tool"]["pytest"] == {"ini_options": {"testpaths": ["checks"]}}
    assert merged["tool"]["lockstep"] == {"image": "theirs"}
    assert "build-system" not in merged  # the kit's template has one; this KIT excerpt has none


def test_poetry_style_dependencies_are_refused(tmp_path: Path):
    theirs = '[tool.poetry.dependencies]\npython = "^3.11"\npandas = "^2"\n'
    with pytest.raises(TemplateError, match="Poetry-style"):
        dependencies.merge(KIT, theirs, dependencies.Declared())
