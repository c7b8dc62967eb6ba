"""The kit as a tool: its wheel is reproducible, installs with `uv tool install`, and starts a
project from the template of its own version, with no clone of the kit's repository around it."""

from __future__ import annotations

from pathlib import Path

import lockstep
import pytest
import yaml
from lockstep import paths

from kit.tasks import build_wheel
from tests.support import commands, template

pytestmark = pytest.mark.docker

TAG = f"v{lockstep.__version__}"


@pytest.fixture
def installed(tmp_path) -> Path:
    """The kit's wheel, built twice (the same bytes), installed as a user's tool: its bin/."""
    first = build_wheel(template.REPO, tmp_path / "first")
    second = build_wheel(template.REPO, tmp_path / "second")
    assert first.name == f"lockstep_kit-{lockstep.__version__}-py3-none-any.whl"
    assert first.read_bytes() == second.read_bytes(), "two builds of the kit's wheel differ"
    tools, bin_ = tmp_path / "tools", tmp_path / "bin"
    env = {"UV_TOOL_DIR": str(tools), "UV_TOOL_BIN_DIR": str(bin_)}
    uv = template.REPO / paths.POETRY / "bin" / "uv"
    commands.run([uv, "tool", "install", "--quiet", first], tmp_path, env=env, timeout=300)
    return bin_


def test_the_installed_tool_makes_a_project_from_the_template_of_its_version(
    installed, kit_source, tmp_path
):
    clone = tmp_path / "mirror"  # a company's mirror of the kit's repository, say
    commands.run(["git", "clone", "--quiet", kit_source, clone], tmp_path)
    commands.git(clone, "tag", TAG)
    env = {"LOCKSTEP_TEMPLATE": str(clone)}
    tool = installed / "lockstep"

    version = commands.run([tool, "--version"], tmp_path, env=env).stdout
    assert version.strip() == f"lockstep {lockstep.__version__}"
    made = commands.run([tool, "new", "demo", "--defaults"], tmp_path, env=env, timeout=300)
    assert f"from the lockstep template {TAG}" in made.stdout

    recorded = yaml.safe_load((tmp_path / "demo" / ".copier-answers.yml").read_text())
    assert recorded["_commit"] == TAG and recorded["_src_path"] == str(clone)
    assert (tmp_path / "demo" / "inv").is_file()


def test_a_tool_that_cannot_find_its_template_says_where_to_point_it(
    installed, tmp_path, monkeypatch
):
    monkeypatch.delenv("LOCKSTEP_TEMPLATE", raising=False)
    failed = commands.run(
        [installed / "lockstep", "new", "demo", "--defaults"], tmp_path, check=False
    )
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [
        "error: this lockstep kit does not know where its template is; pass --template (or set "
        "LOCKSTEP_TEMPLATE) to the path or git URL of the kit's repository; its tag "
        f"{TAG} is this kit's template"
    ]
    assert not (tmp_path / "demo").exists()
