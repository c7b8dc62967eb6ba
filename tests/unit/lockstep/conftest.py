"""What the kit's unit tests share: a lineage environment to vary, the browser for its pages."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lockstep.records.lineage import Environment

# Not tests.support's: the kit's unit tests also run, unchanged, in every generated project.
GIT_IDENTITY = {
    f"GIT_{role}_{field}": value
    for role in ("AUTHOR", "COMMITTER")
    for field, value in (("NAME", "lockstep tests"), ("EMAIL", "tests@lockstep.invalid"))
}


ENVIRONMENT = Environment(
    where="container",
    image_id="sha256:1",
    image_tag="img:1",
    registry_digest=None,
    registry_repository=None,
    fingerprint="f",
    lock_sha256="l",
    base_image="b",
    commit="c",
    dirty=False,
    dvc_version="3",
    python_version="3.11",
)


@pytest.fixture
def git_identity(monkeypatch) -> dict[str, str]:
    """The tests' git author and committer, for commits in temporary repositories."""
    for name, value in GIT_IDENTITY.items():
        monkeypatch.setenv(name, value)
    return GIT_IDENTITY


@pytest.fixture
def environment():
    """A factory: the environment of a container run, with any fields changed."""
    return lambda **changes: dataclasses.replace(ENVIRONMENT, **changes)


@pytest.fixture
def dvc_project(tmp_path, git_identity) -> Path:
    """A git and DVC repository whose default DVC remote is the folder `remote` beside it."""
    root = tmp_path / "project"
    root.mkdir()
    subprocess.run(["git", "init", "--quiet"], cwd=root, check=True)
    dvc(root, "init")
    dvc(root, "remote", "add", "--default", "origin", str(tmp_path / "remote"))
    return root


def dvc(root: Path, *args: str) -> None:
    """Run DVC's command line in `root`, in this process (a second each saved)."""
    from dvc.cli import main

    with contextlib.chdir(root):
        assert main([*args, "--quiet"]) == 0, f"dvc {' '.join(args)} failed"


def cache_file(root: Path, data: bytes) -> Path:
    """Where the project's DVC cache keeps a file of these bytes."""
    md5 = hashlib.md5(data).hexdigest()
    return root / ".dvc/cache/files/md5" / md5[:2] / md5[2:]


def rot(path: Path, offset: int = 0) -> None:
    """Flip a bit of a file as a failing disk does: its mode and mtime are left as they were."""
    before = path.stat()
    path.chmod(0o644)
    with path.open("r+b") as data:
        data.seek(offset)
        byte = data.read(1)
        data.seek(offset)
        data.write(bytes([byte[0] ^ 1]))
    path.chmod(before.st_mode)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.fixture(scope="session")
def browser():
    """The browser helper (tests/support/browser.py), for the tests of the kit's pages."""
    from tests.support import browser

    return browser


@dataclasses.dataclass(frozen=True)
class SmallDisk:
    """A tmpfs of a few MB mounted at `path`: a disk that fills up at once."""

    path: Path

    def resize(self, megabytes: int) -> None:
        """Give the disk more room (or less): what a user does who frees some space."""
        mount = ["mount", "-o", f"remount,size={megabytes}m", self.path]
        subprocess.run(mount, check=True)


@pytest.fixture
def small_disk() -> Iterator[Callable[[Path, int], SmallDisk]]:
    """A factory: a real tmpfs of N MB at a folder, unmounted after the test (needs root).

    Not tests.support's: the kit's unit tests also run, unchanged, in every generated project.
    """
    mounted: list[Path] = []

    def mount(path: Path, megabytes: int) -> SmallDisk:
        path.mkdir(parents=True, exist_ok=True)
        cmd = ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", path]
        subprocess.run(cmd, check=True)
        mounted.append(path)
        return SmallDisk(path)

    yield mount
    for path in reversed(mounted):
        # Lazily: a process DVC started in the project (its updater) may still stand in it; the
        # disk goes when it leaves. CI once failed a passing test on "target is busy".
        subprocess.run(["umount", "--lazy", path], check=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the tests a machine cannot run: the browser's, and those that mount disks.

    The kit's unit tests also run, unchanged, in every new project, which has neither the
    browser helper nor Chromium; the kit's own repository opens its pages in a browser. A
    small disk is mounted as root (the kit's CI runs as root). They are deselected, as `-k`
    would, not skipped: a new project's suite skips nothing.
    """
    wanted = () if os.geteuid() == 0 else ("small_disk",)
    try:
        if importlib.util.find_spec("tests.support") is None:
            wanted += ("browser",)
    except ModuleNotFoundError:  # no `tests` package either
        wanted += ("browser",)
    left_out = [item for item in items if set(wanted) & set(getattr(item, "fixturenames", ()))]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]
