"""`./inv lock`: a dependency added to pyproject.toml is locked through pip's configured index
(where Poetry's own `poetry lock` fails on a mirror without Poetry's JSON API), into an
ordinary lock that `poetry check --lock` accepts, and .venv follows it."""

from __future__ import annotations

import tomllib

import pytest
from lockstep import paths

from tests.support import commands, template

# Locks through the package index as it is today (and bootstraps a .venv from the new lock).
pytestmark = [pytest.mark.docker, pytest.mark.network, pytest.mark.slow]

ADDED = "toolz (==1.2.0)"  # in no group of the kit's lock


def test_a_stale_lock_names_the_remedy_and_inv_lock_applies_it(kit):
    project = kit.copy("lock")
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(
        text.replace('    "dvc (==3.67.1)",\n', f'    "dvc (==3.67.1)",\n    "{ADDED}",\n')
    )

    stale = template.inv(project, "--list", check=False)
    assert stale.returncode != 0
    assert "poetry.lock is out of date with pyproject.toml; re-lock it with `./inv lock`" in (
        stale.stderr
    )

    locked = template.inv(project, "lock")
    assert "locked: review `git diff poetry.lock`, then commit it" in locked.stdout
    lock = tomllib.loads((project / "poetry.lock").read_text())
    toolz = next(package for package in lock["package"] if package["name"] == "toolz")
    assert (toolz["version"], toolz["groups"]) == ("1.2.0", ["main"])
    # An ordinary lock: no index recorded, and Poetry agrees it matches pyproject.toml.
    assert not any("source" in package for package in lock["package"])
    assert "pip-index" not in pyproject.read_text()
    poetry = project / paths.POETRY / "bin" / "poetry"
    commands.run([poetry, "check", "--lock"], project)
    # The environment follows the new lock at once.
    python = project / ".venv" / "bin" / "python"
    assert (
        commands.run([python, "-c", "import toolz; print(toolz.__version__)"]).stdout == "1.2.0\n"
    )
