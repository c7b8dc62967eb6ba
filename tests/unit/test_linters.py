"""The files no Python linter reads are linted too: workflows, the Dockerfile, shell scripts.

Each linter is the real tool, from a wheel in the dev group that carries its binary. A finding
that is intended is ignored where it stands (an inline ignore, or .hadolint.yaml), with the
reason beside it; anything else fails here, so the files cannot drift.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def shell_scripts() -> list[str]:
    """Every tracked file that starts with a sh or bash shebang."""
    listed = subprocess.run(
        ["git", "-c", "safe.directory=*", "ls-files", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    found = []
    for name in listed:
        path = ROOT / name
        if name and path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                first = handle.readline()
            if first.startswith(b"#!") and first.split(b"/")[-1].split()[-1] in (b"sh", b"bash"):
                found.append(name)
    return found


def lint(*cmd: str) -> None:
    proc = subprocess.run(
        [str(BIN / cmd[0]), *cmd[1:]], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"{' '.join(cmd)} reports:\n{proc.stdout}{proc.stderr}"


def test_the_shell_scripts_are_found():
    assert {"inv", ".ci/run", ".ci/connect"} <= set(shell_scripts())


def test_actionlint_passes_the_workflows():
    # Includes the runtime check: an action on a Node.js version GitHub removed fails here.
    lint("actionlint", "-no-color")


def test_hadolint_passes_the_dockerfile():
    lint("hadolint", "--no-color", "docker/Dockerfile")


@pytest.mark.parametrize("script", shell_scripts())
def test_shellcheck_passes(script):
    lint("shellcheck", "--external-sources", script)
