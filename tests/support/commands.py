"""Running commands in tests: one helper that fails with both streams, git, free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support import deadlines

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "lockstep tests",
    "GIT_AUTHOR_EMAIL": "tests@lockstep.invalid",
    "GIT_COMMITTER_NAME": "lockstep tests",
    "GIT_COMMITTER_EMAIL": "tests@lockstep.invalid",
}


def run(
    cmd: list,
    cwd: Path | None = None,
    *,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = 1800,
) -> subprocess.CompletedProcess[str]:
    """Run a command with the tests' git identity, capturing its output; a failure (when
    `check`) shows both streams. It may take `timeout` seconds, never past the test's limit."""
    seconds = deadlines.step_timeout(timeout)
    try:
        proc = subprocess.run(
            [str(part) for part in cmd],
            cwd=cwd,
            env={**os.environ, **GIT_IDENTITY, "DVC_NO_ANALYTICS": "1", **(env or {})},
            capture_output=True,
            text=True,
            timeout=seconds,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = f"{exc.stdout or ''}{exc.stderr or ''}"[-3000:]
        what = " ".join(map(str, cmd))
        pytest.fail(f"{deadlines.expired(what, seconds)}\n{output}", pytrace=False)
    if check:
        assert proc.returncode == 0, (
            f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def git(root: Path, *args: str) -> str:
    """A git command in `root`, trusted whoever owns it; its output."""
    return run(["git", "-c", "safe.directory=*", *args], root).stdout


def commit_all(root: Path, message: str, tag: str = "") -> None:
    """Commit every change (hooks skipped), and tag the commit when asked."""
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--no-verify", "-m", message)
    if tag:
        git(root, "tag", tag)


def free_port() -> int:
    """A TCP port nothing listens on right now (and, closed at once, nothing will soon)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 30) -> None:
    """Wait until a URL answers."""
    until(lambda: _answers(url), url, timeout)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def until(done, what: str, timeout: float, interval: float = 0.1) -> None:
    """Poll `done()` until it is true; fail, naming `what`, when `timeout` passes first."""
    seconds = deadlines.step_timeout(timeout)
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(deadlines.expired(what, seconds), pytrace=False)
        time.sleep(interval)


def one_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The one `error: ...` line a failed task ends with (no traceback before it)."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert errors and errors[-1] == lines[-1], proc.stderr
    # Only a pipeline that ran may print errors of its own before the task's.
    assert len(errors) == 1 or " run --rm " in proc.stderr, proc.stderr
    return errors[-1]


# Holds `lockstep.files.exclusive` on argv[1], says so, and lets go when stdin gets a line.
HOLDER = """
import sys
from pathlib import Path
from lockstep import files

with files.exclusive(Path(sys.argv[1]), "unused"):
    print("held", flush=True)
    sys.stdin.readline()
"""


def lock_holder(path: Path) -> subprocess.Popen:
    """Another process holding the lock on `path`, until a line is written to its stdin."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline() == "held\n"
    return proc
