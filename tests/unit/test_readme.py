"""The README is executable documentation: its claims about the repository must hold."""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    match = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def test_quickstart_first_block_is_exactly_two_commands():
    block = re.search(r"```sh\n(.*?)```", section("Quickstart"), re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert commands == ["./inv repro", "./inv test"]


def test_ci_runs_the_readme_test_command():
    block = re.search(r"```sh\n(.*?)```", section("Quickstart"), re.S).group(1)
    test_command = block.splitlines()[1]
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_documented_layout_exists():
    """Top-level entries, and entries indented by two under the folder above them."""
    tree = re.search(r"```\n(.*?)```", section("What you get"), re.S).group(1)
    checked, parent = 0, ""
    for line in tree.splitlines():
        indent = len(line) - len(line.lstrip())
        if indent not in (0, 2):
            continue  # a description's second line
        names = line.strip().split("  ")[0].split()
        if indent == 0 and names:
            parent = names[0]
        for name in names:
            path = (parent if indent else "") + name.replace("<stage>", "ingest")
            assert (ROOT / path).exists(), f"README lists {path}, which does not exist"
            checked += 1
    assert checked, "the tree lists nothing"


def test_every_task_is_documented():
    spec = importlib.util.spec_from_file_location("project_tasks", ROOT / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    names = tasks.namespace.task_names
    assert "repro" in names and "test" in names
    for name in names:
        assert f"./inv {name}" in README, f"task {name} is not in the README"
