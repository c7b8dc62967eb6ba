"""The kit as a tool: its wheel is reproducible, installs with `uv tool install`, and starts a
project from the template of its own version, with no clone of the kit's repository around it."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import NamedTuple

import lockstep
import pytest
import yaml
from lockstep import paths

from kit.tasks import build_wheel
from tests.support import commands, template

pytestmark = pytest.mark.docker

TAG = f"v{lockstep.__version__}"


class Installed(NamedTuple):
    """The kit installed as a user's tool: its command, and the wheel it came from."""

    command: Path
    wheel: Path


@pytest.fixture
def installed(tmp_path) -> Installed:
    """The kit's wheel, built twice (the same bytes), installed as a user's tool."""
    first = build_wheel(template.REPO, tmp_path / "first")
    second = build_wheel(template.REPO, tmp_path / "second")
    assert first.name == f"lockstep_kit-{lockstep.__version__}-py3-none-any.whl"
    assert first.read_bytes() == second.read_bytes(), "two builds of the kit's wheel differ"
    tools, bin_ = tmp_path / "tools", tmp_path / "bin"
    env = {"UV_TOOL_DIR": str(tools), "UV_TOOL_BIN_DIR": str(bin_)}
    uv = template.REPO / paths.POETRY / "bin" / "uv"
    # With its command line (the `cli` extra), as docs/projects.md says to install it; held to the
    # versions this repository locks, so that what the index publishes later changes nothing.
    locked = tomllib.loads((template.REPO / "poetry.lock").read_text())["package"]
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("".join(f"{p['name']}=={p['version']}\n" for p in locked))
    install = [uv, "tool", "install", "--quiet", "--constraints", constraints, f"{first}[cli]"]
    commands.run(install, tmp_path, env=env, timeout=300)
    return Installed(bin_ / "lockstep", first)


def test_the_installed_tool_makes_a_project_from_the_template_of_its_version(
    installed, kit_source, kit_index, tmp_path
):
    clone = tmp_path / "mirror"  # a company's mirror of the kit's repository, say
    commands.run(["git", "clone", "--quiet", kit_source, clone], tmp_path)
    commands.git(clone, "tag", TAG)
    env = {"LOCKSTEP_TEMPLATE": str(clone)}
    tool = installed.command

    version = commands.run([tool, "--version"], tmp_path, env=env).stdout
    assert version.strip() == f"lockstep {lockstep.__version__}"
    made = commands.run([tool, "new", "demo", "--defaults"], tmp_path, env=env, timeout=300)
    assert f"from the lockstep template {TAG}" in made.stdout

    demo = tmp_path / "demo"
    recorded = yaml.safe_load((demo / ".copier-answers.yml").read_text())
    assert recorded["_commit"] == TAG and recorded["_src_path"] == str(clone)
    # Its own code and skeleton, and a pin of the kit, locked with the hash of the wheel.
    assert sorted(p.name for p in (demo / "src").iterdir()) == ["demo"]
    assert not (demo / "tests/unit/lockstep").exists()
    locked = tomllib.loads((demo / "poetry.lock").read_text())
    kit = next(p for p in locked["package"] if p["name"] == "lockstep-kit")
    # The session's index has its own build of the kit: the same bytes as this test's.
    wheel = installed.wheel
    assert (kit_index.folder / "files" / wheel.name).read_bytes() == wheel.read_bytes()
    assert kit["files"] == [
        {"file": wheel.name, "hash": f"sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}"}
    ]


def test_a_tool_that_cannot_find_its_template_says_where_to_point_it(
    installed, tmp_path, monkeypatch
):
    monkeypatch.delenv("LOCKSTEP_TEMPLATE", raising=False)
    failed = commands.run([installed.command, "new", "demo", "--defaults"], tmp_path, check=False)
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [
        "error: this lockstep kit does not know where its template is; pass --template (or set "
        "LOCKSTEP_TEMPLATE) to the path or git URL of the kit's repository; its tag "
        f"{TAG} is this kit's template"
    ]
    assert not (tmp_path / "demo").exists()
