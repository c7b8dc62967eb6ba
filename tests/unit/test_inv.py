"""`./inv` in a project that pins the kit: a lock it cannot use ends in one line, before anything
is installed."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_inv(project: Path) -> subprocess.CompletedProcess[str]:
    shutil.copy2(ROOT / "inv", project / "inv")
    return subprocess.run(
        [project / "inv", "--list"], cwd=project, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("lock", "message"),
    [
        (
            '[[package]]\nname = "numpy"\nversion = "2.4.6"\nfiles = []\n',
            "error: poetry.lock pins no lockstep-kit: restore it from git, or start the project "
            "with `lockstep new` or `lockstep adopt` (the kit pins itself)",
        ),
        ("[[package]\n", "error: cannot read poetry.lock ("),
        (None, "error: cannot read poetry.lock ("),
    ],
)
def test_a_lock_without_the_kit_ends_in_one_line(tmp_path, lock, message):
    if lock is not None:
        (tmp_path / "poetry.lock").write_text(lock)
    proc = run_inv(tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), proc.stderr
    if "cannot read" in message:
        assert lines[0].endswith("): restore it with `git checkout poetry.lock`")
    assert not (tmp_path / ".lockstep").exists()  # nothing installed
