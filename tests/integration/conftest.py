"""Shared fixtures for the Docker integration tests: the real engine, project copies, images.

Every test here runs against the real Docker engine. A missing engine fails the tests with a
clear message; it never skips them. Helpers reach the tests through the `kit` fixture (test
modules are imported with --import-mode=importlib, so they cannot import this file).
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

# The reaper container testcontainers starts comes from a registry that is unreachable here.
os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"

import pytest
import yaml
from lockstep import config, debs, images, manifest
from lockstep import engine as engines
from lockstep import repro as pipeline
from lockstep.config import Settings
from lockstep.engine import Engine
from lockstep.errors import LockstepError

REPO = Path(__file__).resolve().parents[2]
# Not resolved: the venv's bin/python is a symlink, and the venv is what we want on PATH.
BIN = Path(sys.executable).parent
ORDINARY_USER = "lockstep-user"
GIT_IDENTITY = ("-c", "user.name=lockstep tests", "-c", "user.email=tests@lockstep.invalid")


def _git(root: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "safe.directory=*", *GIT_IDENTITY, *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"git {' '.join(args)} failed:\n{proc.stderr}"
    return proc.stdout


class Kit:
    """The engine plus the helpers the integration tests share."""

    repo = REPO
    bin = BIN
    invoke_cli = BIN / "invoke"
    dvc_cli = BIN / "dvc"
    rows_per_month = 300
    # Every output the example pipeline declares in dvc.yaml.
    outputs = frozenset(
        {
            "outputs/ingest/applications.parquet",
            "outputs/features/train.parquet",
            "outputs/features/test.parquet",
            "outputs/train/model.pkl",
            "reports/metrics.json",
            "outputs/evaluate/roc.csv",
            "outputs/evaluate/calibration.csv",
            "outputs/evaluate/scores.csv",
        }
    )

    def __init__(self, engine: Engine, tmp: pytest.TempPathFactory) -> None:
        self.engine = engine
        self.tmp = tmp
        self.copies: list[Path] = []
        self._snapshot: Path | None = None
        # Folders made outside pytest's temporary area, removed when the session ends.
        self.scratch: list[Path] = []

    # docker and git ---------------------------------------------------------------------

    def docker(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the kit's docker CLI with BuildKit, capturing its output."""
        proc = subprocess.run(
            [self.engine.cli, *args],
            capture_output=True,
            text=True,
            input=input,
            env={**os.environ, **engines.BUILDKIT_ENV},
            check=False,
        )
        if check:
            assert proc.returncode == 0, f"docker {' '.join(args)} failed:\n{proc.stderr}"
        return proc

    def image_id(self, ref: str) -> str:
        """`docker image inspect --format '{{.Id}}' REF`."""
        return self.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()

    def remove_images(self, *refs: str) -> None:
        """Remove image references a test made (an image goes with its last tag)."""
        refs = tuple(ref for ref in refs if ref)
        if refs:
            self.docker("image", "rm", *refs, check=False)

    def git(self, root: Path, *args: str) -> str:
        return _git(root, *args)

    # project copies ---------------------------------------------------------------------

    def snapshot(self) -> Path:
        """The project's files, taken once per session: the files of a clone plus untracked
        files not ignored. Every copy starts from it, so edits made to the repository while the
        tests run cannot make two copies differ."""
        if self._snapshot is None:
            root = self.tmp.mktemp("snapshot")
            listed = _git(REPO, "ls-files", "-z")
            listed += _git(REPO, "ls-files", "--others", "--exclude-standard", "-z")
            for relative in sorted({name for name in listed.split("\0") if name}):
                source = REPO / relative
                target = root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                if source.is_symlink():
                    # The template links to the kit's own files: keep the links, as git does.
                    target.symlink_to(os.readlink(source))
                elif source.is_file():
                    shutil.copy2(source, target)
                # anything else was deleted in the working tree
            self.settle_base(root)
            self._snapshot = root
        return self._snapshot

    def settle_base(self, root: Path) -> None:
        """Put the snapshot's base image in the engine, as a user's first `./inv build` does.

        On a machine where the committed base is out of reach (no archive, and Debian has
        published updates since), this rebuilds it from the live mirror and rewrites the
        snapshot's packages.lock, so that every copy then finds the same base in the engine.
        The `.deb` files stay in the snapshot (copies leave them out) for the base tests.
        """
        images.resolve_base(config.load(root), self.engine)

    def debs(self) -> Path:
        """A folder of the session base's `.deb` files (tools in `tools/`), fetched at most once."""
        folder = self.snapshot() / debs.FOLDER
        if not folder.is_dir():
            recorded = manifest.read(self.snapshot() / "docker/base/packages.lock")
            source = REPO / debs.FOLDER
            if recorded and source.is_dir() and debs.versions(source) == dict(recorded.packages):
                shutil.copytree(source, folder)  # this checkout already holds them
            else:
                cfg = config.load(self.snapshot()).base
                debs.download(
                    cfg.suite,
                    folder,
                    include=sorted(cfg.packages),
                    tools=debs.TOOLS,
                    mirrors=cfg.mirrors,
                    epoch=cfg.epoch,
                    unshare=os.geteuid() != 0,
                )
        return folder

    def copy(self, name: str, *, dest: Path | None = None) -> Path:
        """A committed copy of the project with a small extract, in its own git repository.

        All copies have the same image inputs (Dockerfile, lock, pyproject.toml, src), so they
        share one image, built once.
        """
        root = dest or self.tmp.mktemp(name)
        shutil.copytree(
            self.snapshot(),
            root,
            symlinks=True,
            dirs_exist_ok=True,
            # The snapshot's .deb files are the base tests' fixture, not part of a clone.
            ignore=lambda folder, names: ["debs"] if folder.endswith("docker/base") else [],
        )
        params = root / "params.yaml"
        text, count = re.subn(
            r"(?m)^(\s*rows_per_month:\s*)\d+", rf"\g<1>{self.rows_per_month}", params.read_text()
        )
        assert count == 1, "params.yaml has no ingest.rows_per_month"
        params.write_text(text)
        _git(root, "init", "--quiet")
        _git(root, "add", "--all")
        _git(root, "commit", "--quiet", "--no-verify", "-m", "copy of the project for a test")
        self.copies.append(root)
        return root

    @staticmethod
    def change_source(root: Path, token: str) -> None:
        """A harmless source change, so the copy's image inputs differ from any other's."""
        path = root / "src" / "credit_model" / "__init__.py"
        path.write_text(path.read_text() + f"# integration test build {token}\n")

    # the CLI ----------------------------------------------------------------------------

    def env(self, project: Path, **extra: str) -> dict[str, str]:
        """Environment for the real CLI on a copy: the venv's tools, the copy's own code."""
        return {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(project / "src"),
            "DVC_NO_ANALYTICS": "1",
            **extra,
        }

    def invoke(
        self,
        project: Path,
        *args: str,
        check: bool = True,
        timeout: float = 600,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """`invoke -r PROJECT ARGS`, as a user would run it (with `env` added)."""
        proc = subprocess.run(
            [str(self.invoke_cli), "-r", str(project), *args],
            env=self.env(project, **(env or {})),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check:
            assert proc.returncode == 0, (
                f"invoke {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def dvc(self, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the host's DVC (the locked version) in a copy."""
        proc = subprocess.run(
            [str(self.dvc_cli), *args],
            cwd=project,
            env=self.env(project),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc

    @staticmethod
    def out_hashes(project: Path) -> dict[str, str]:
        """Every stage output's md5, by path, from dvc.lock."""
        lock = yaml.safe_load((project / "dvc.lock").read_text())
        return {
            out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage["outs"]
        }

    def run_containers(self, project: Path | None = None) -> list[str]:
        """Ids of the kit's run containers, in any state; only those mounting PROJECT if given."""
        ids = self.docker(
            "ps", "--all", "--quiet", "--no-trunc", "--filter", "name=lockstep-run-"
        ).stdout.split()
        if project is None:
            return ids
        found = []
        for cid in ids:
            mounts = self.docker(
                "inspect", "--format", "{{range .Mounts}}{{.Source}} {{end}}", cid, check=False
            ).stdout.split()
            if str(project) in mounts:
                found.append(cid)
        return found

    def cleanup(self) -> None:
        """Remove leftover containers on the copies and the `git-<sha>` tags the copies added."""
        shas = set()
        for root in self.copies:
            for cid in self.run_containers(root):
                self.docker("rm", "--force", cid, check=False)
            if (root / ".git").is_dir():
                shas.add(_git(root, "rev-parse", "HEAD").strip()[:12])
        tags = self.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        stale = [
            tag
            for tag in tags
            if (match := re.search(r":git-([0-9a-f]{12})", tag)) and match.group(1) in shas
        ]
        self.remove_images(*stale)
        for folder in self.scratch:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def engine() -> Engine:
    """The docker CLI the kit uses; the integration tests fail (never skip) without it."""
    try:
        return engines.find(os.environ.get("LOCKSTEP_DOCKER", ""))
    except LockstepError as exc:
        problem = str(exc)
    pytest.fail(
        f"the Docker integration tests need a Docker engine with BuildKit: {problem}",
        pytrace=False,
    )


def require_root(why: str) -> None:
    """Fail (in CI, which runs as root) or skip (elsewhere) a test that needs root."""
    if os.geteuid() != 0:
        reason = f"{why}: run the tests as root"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def ordinary_user() -> pwd.struct_passwd:
    """A user with no special rights and its own /etc/subuid range, made once."""
    require_root("compares root with an ordinary user")
    try:
        return pwd.getpwnam(ORDINARY_USER)
    except KeyError:
        # Debian's useradd also gives the user a subordinate id range (/etc/subuid).
        subprocess.run(["useradd", "--user-group", "--shell", "/bin/sh", ORDINARY_USER], check=True)
        return pwd.getpwnam(ORDINARY_USER)


class SecondEngine:
    """A Docker engine of its own: data root, exec root, socket and bridge. A new machine."""

    def __init__(self) -> None:
        # Short: the engine's sockets live under it, and socket paths are limited to 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="lockstep-engine-", dir="/var/tmp"))
        self.bridge = f"lsbr{os.getpid() % 10000}"
        self.subnet = f"172.29.{os.getpid() % 200 + 20}"
        self.host = f"unix://{self.root}/docker.sock"
        self.process: subprocess.Popen | None = None

    def start(self) -> SecondEngine:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        log = open(self.root / "dockerd.log", "wb")  # noqa: SIM115 (the process holds it)
        self.process = subprocess.Popen(
            [
                "dockerd",
                f"--data-root={self.root / 'data'}",
                f"--exec-root={self.root / 'exec'}",
                f"--pidfile={self.root / 'dockerd.pid'}",
                f"--host={self.host}",
                f"--bridge={self.bridge}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while subprocess.run(
            ["/usr/bin/docker", "--host", self.host, "version"], capture_output=True
        ).returncode:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the second engine did not start:\n{self.log()}", pytrace=False)
            time.sleep(0.5)
        return self

    def log(self) -> str:
        return (self.root / "dockerd.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """Stop the engine, then remove its bridge, its firewall rules and its files."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(60)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
        table = ""
        for line in rules.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith("-A ") and (self.bridge in line or self.subnet in line):
                subprocess.run(["iptables", "-t", table, "-D", *shlex.split(line)[1:]])
        shutil.rmtree(self.root, ignore_errors=True)


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"ip {' '.join(args)} failed: {proc.stderr}"


@pytest.fixture(scope="session")
def second_engine() -> Iterator[SecondEngine]:
    """An empty Docker engine beside the first, for fresh-machine tests (root only)."""
    require_root("starts a second Docker engine")
    engine = SecondEngine().start()
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def kit(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kit]:
    helpers = Kit(engine, tmp_path_factory)
    yield helpers
    helpers.cleanup()


@pytest.fixture(scope="session")
def project(kit: Kit) -> Path:
    """A pristine copy of the project, shared by the tests that only read it."""
    return kit.copy("project")


@pytest.fixture(scope="session")
def settings(project: Path) -> Settings:
    return config.load(project)


@pytest.fixture(scope="session")
def runtime_image(settings: Settings) -> images.Image:
    """The runtime image of the current sources, built once (or reused) for the session."""
    _, image = pipeline.build(settings)
    return image
