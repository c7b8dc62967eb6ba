"""The suite's parallel workers keep the tests that share an expensive fixture together.

pytest-xdist's groups once stopped working without a word (pytest 9.2 changed how node ids are
kept): every grouped fixture was then made once per worker. This runs a small suite through the
same grouping (tests/conftest.py) on two workers and requires each group on one worker.
"""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SUITE = """
import pytest

@pytest.fixture(scope="session")
def history():
    return 1

@pytest.fixture(scope="module")
def shared():
    return 2

@pytest.mark.parametrize("n", range(4))
def test_history(history, n):
    pass

@pytest.mark.parametrize("n", range(4))
def test_module(shared, n):
    pass

@pytest.mark.parametrize("n", range(4))
def test_free(n):
    pass
"""


def test_tests_sharing_a_fixture_run_on_one_worker(tmp_path):
    for name in ("test_a.py", "test_b.py"):
        (tmp_path / name).write_text(textwrap.dedent(SUITE))
    hook = "from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n"
    (tmp_path / "conftest.py").write_text(hook)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "-v",
            "-p",
            "no:cacheprovider",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    workers: dict[str, set[str]] = {}
    for worker, name in re.findall(r"\[(gw\d)\] .*PASSED \S+::(test_\w+)\[", proc.stdout):
        workers.setdefault(name, set()).add(worker)
    assert len(workers["test_history"]) == 1, proc.stdout
    runs = re.findall(r"\[(gw\d)\] .*PASSED \S+(test_[ab]).py::test_module", proc.stdout)
    for module in ("test_a", "test_b"):
        assert len({w for w, m in runs if m == module}) == 1, proc.stdout
