"""Fixtures for the template tests: a versioned copy of the kit, projects made from it with the
real `lockstep` command, their own `./inv`, and a registry server.

The kit copy is a git repository of the working tree (tracked files and untracked ones git does
not ignore, symlinks kept), tagged as a version, as a user's clone of the kit would be. Every
project bootstraps its own `.venv` with its own `./inv`, as a user's would; only the pinned
Poetry install is shared (the kit's own `.lockstep/poetry`, when its pins match), to save time.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from lockstep import bootstrap, config, images
from lockstep.engine import Engine

REPO = Path(__file__).resolve().parents[3]
# Not resolved: the venv's bin/python is a symlink, and the venv's bin is where `lockstep` is.
BIN = Path(sys.executable).parent
IDENTITY = {
    "GIT_AUTHOR_NAME": "lockstep tests",
    "GIT_AUTHOR_EMAIL": "tests@lockstep.invalid",
    "GIT_COMMITTER_NAME": "lockstep tests",
    "GIT_COMMITTER_EMAIL": "tests@lockstep.invalid",
}
KIT_VERSION = "v1.0.0"
MANIFEST = "docker/base/packages.lock"


def run(cmd: list, cwd: Path, *, env: dict | None = None, check: bool = True, timeout=1800):
    """Run a command, capturing its output; a failure shows both streams."""
    proc = subprocess.run(
        [str(part) for part in cmd],
        cwd=cwd,
        env={**os.environ, **IDENTITY, "DVC_NO_ANALYTICS": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert proc.returncode == 0, (
            f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def git(root: Path, *args: str) -> str:
    return run(["git", *args], root).stdout


def copy_working_tree(source: Path, dest: Path) -> None:
    """The files a commit of `source`'s working tree would hold, symlinks kept as symlinks."""
    listed = git(source, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in sorted({name for name in listed.split("\0") if name}):
        src, dst = source / name, dest / name
        if not (src.exists() or src.is_symlink()):
            continue  # deleted in the working tree
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, dst)


def commit_all(root: Path, message: str, tag: str = "") -> None:
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--no-verify", "-m", message)
    if tag:
        git(root, "tag", tag)


def lockstep(*args, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The real `lockstep` console script of the kit's environment."""
    return run([BIN / "lockstep", *args], cwd, check=check, timeout=300)


def inv(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`./inv ARGS` in a project, as its user runs it: outside any virtualenv."""
    path = os.pathsep.join(
        part for part in os.environ.get("PATH", "").split(os.pathsep) if Path(part) != BIN
    )
    env = {**os.environ, "PATH": path}
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    return run([project / "inv", *args], project, env=env, check=check)


def share_poetry(project: Path) -> None:
    """Let a project reuse the kit's Poetry install when it pins the same Poetry."""
    shared = REPO / ".lockstep" / "poetry"
    marker = shared / "specs.txt"
    if marker.is_file() and marker.read_text() == "\n".join(bootstrap.poetry_specs(project)):
        (project / ".lockstep").mkdir(exist_ok=True)
        (project / ".lockstep" / "poetry").symlink_to(shared)


def outputs(project: Path) -> dict[str, str]:
    """Every stage output's md5, by path, from dvc.lock."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage["outs"]}


@pytest.fixture(scope="session")
def tools() -> SimpleNamespace:
    """The helpers above, for the test modules (which cannot import this file)."""
    return SimpleNamespace(
        run=run,
        git=git,
        lockstep=lockstep,
        inv=inv,
        share_poetry=share_poetry,
        outputs=outputs,
        commit_all=commit_all,
        kit_version=KIT_VERSION,
        bin=BIN,
    )


@pytest.fixture(scope="session")
def project_images(engine: Engine) -> Iterator[list[str]]:
    """Image repositories the tests' projects make; every tag of them is removed at the end."""
    repositories: list[str] = []
    yield repositories
    listed = engine.output("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split()
    stale = [ref for ref in listed if ref.rsplit(":", 1)[0] in repositories]
    if stale:
        engine.run("image", "rm", "--force", *stale, capture=True, check=False)


@pytest.fixture(scope="session")
def kit_source(kit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository of the kit's working tree, tagged KIT_VERSION.

    Its base manifest is the session's (see `Kit.settle_base`), as a user's clone would have
    after its first build, so the projects made from it find their base in the engine.
    """
    root = tmp_path_factory.mktemp("kit") / "lockstep"
    copy_working_tree(REPO, root)
    shutil.copyfile(kit.snapshot() / MANIFEST, root / MANIFEST)
    git(root, "init", "--quiet")
    commit_all(root, "the kit", KIT_VERSION)
    return root


class Registry:
    """Debian's docker-registry on 127.0.0.1 at a free port, storing into a folder of its own."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.folder = folder
        self.address = f"127.0.0.1:{self.port}"
        config = folder / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
            f"http:\n  addr: {self.address}\n"
        )
        binary = shutil.which("docker-registry")
        if binary is None:
            pytest.fail("these tests need docker-registry (Debian package)", pytrace=False)
        with open(folder / "registry.log", "wb") as log:
            self.process = subprocess.Popen(
                [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"registry did not start:\n{(folder / 'registry.log').read_text()}")
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    server = Registry(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pinned_base(kit, registry: Registry, engine: Engine) -> Iterator[str]:
    """The kit's own base image, pushed to the registry: `host:port/lockstep-base@sha256:...`."""
    image_id = images.resolve_base(config.load(kit.snapshot()), engine).id
    repository = f"{registry.address}/lockstep-base"
    engine.run("tag", image_id, f"{repository}:pinned", capture=True)
    engine.run("push", f"{repository}:pinned", capture=True)
    digests = (engine.inspect(image_id) or {}).get("RepoDigests") or []
    pinned = next(digest for digest in digests if digest.startswith(repository + "@"))
    yield pinned
    # Untag only: the base image itself stays, under its own lockstep-base tag.
    engine.run("image", "rm", f"{repository}:pinned", pinned, capture=True, check=False)
