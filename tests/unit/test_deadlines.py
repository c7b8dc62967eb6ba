"""A hung step fails its test before the test's own limit, saying which step and how long."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HUNG = """
import pytest
from tests.support import commands

@pytest.mark.timeout(20)
def test_hangs():
    commands.run(["sleep", "600"])

@pytest.mark.timeout(20)
def test_waits():
    commands.until(lambda: False, "a server that never answers", timeout=600)
"""


def test_a_hung_step_fails_with_its_name_and_its_wait(tmp_path):
    (tmp_path / "test_hung.py").write_text(textwrap.dedent(HUNG))
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_runtest_protocol  # noqa: F401\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # Each ran out 15 s before its 20 s limit, so pytest-timeout never had to stop it.
    assert "sleep 600: no answer after 5 s" in proc.stdout, proc.stdout
    assert "a server that never answers: no answer after 5 s" in proc.stdout, proc.stdout
    assert "Timeout" not in proc.stdout, proc.stdout
