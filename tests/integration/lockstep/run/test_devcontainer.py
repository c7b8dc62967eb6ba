"""The devcontainer is the pipeline's environment: the real devcontainer CLI opens a copy of the
project, runs the unit tests and `invoke repro` in it, and the results equal a host run's, byte
for byte, with the batch image's fingerprint, in files that belong to the host user.

The CLI runs as a non-root user when the tests run as root: files made inside the container must
belong to whoever opened it, which only means something when that is not root.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from lockstep.records import lineage

from tests.support import machines

# The devcontainer CLI opens the dev image: its own .venv, build and container.
pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[4]
CLI = REPO / ".devcontainer" / "node_modules" / ".bin" / "devcontainer"
INSTALL = "npm ci --prefix .devcontainer"
USER = "lockstep-devc"
# Passed through to the host user: how pip and the kit reach the package index here.
PASSED = ("PIP_", "SSL_CERT_", "REQUESTS_CA_BUNDLE", "LOCKSTEP_", "DOCKER_HOST")


@dataclass(frozen=True)
class HostUser:
    """Who opens the devcontainer, and how to run a command as them."""

    uid: int
    gid: int
    home: Path
    name: str

    @property
    def other(self) -> bool:
        """True when the tests run as root and this is the plain user made for them."""
        return os.getuid() != self.uid

    def run(
        self, cmd: list[str], cwd: Path, timeout: float = 900, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        as_user = {}
        if self.other:
            socket_gid = Path("/var/run/docker.sock").stat().st_gid
            as_user = {"user": self.uid, "group": self.gid, "extra_groups": [socket_gid]}
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **as_user,
        )
        assert proc.returncode == 0 or not check, (
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n"
            f"{proc.stderr[-6000:]}"
        )
        return proc

    def env(self) -> dict[str, str]:
        # No venv on PATH and no PYTHONPATH: `./inv` must bootstrap the copy's own environment.
        # The plain user gets the system's PATH: root's own entries are out of its reach.
        path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if "/.venv/" not in p]
        if self.other:
            path = []
        return {
            **{k: v for k, v in os.environ.items() if k.startswith(PASSED)},
            "HOME": str(self.home),
            "USER": self.name,
            "LOGNAME": self.name,
            "LANG": "C.UTF-8",
            "PATH": os.pathsep.join([*path, "/usr/local/bin", "/usr/bin", "/bin"]),
        }


def host_user() -> HostUser:
    """A plain user when running as root (created once); otherwise whoever runs the tests."""
    entry = pwd.getpwuid(os.getuid()) if os.getuid() else machines.plain_user(USER, home=True)
    # The home persists between runs on purpose: its pip cache makes the next bootstrap fast.
    return HostUser(entry.pw_uid, entry.pw_gid, Path(entry.pw_dir), entry.pw_name)


@dataclass
class Opened:
    """A devcontainer opened on a copy of the project."""

    user: HostUser
    project: Path
    docker_path: str

    def cli(
        self, *args: str, timeout: float = 900, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.user.run(
            [
                str(CLI),
                *args[:1],
                "--workspace-folder",
                str(self.project),
                "--docker-path",
                self.docker_path,
                *args[1:],
            ],
            cwd=self.project,
            timeout=timeout,
            check=check,
        )

    def exec(self, *command: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return self.cli("exec", *command, timeout=timeout)


@pytest.fixture(scope="module")
def opened(kit, engine):
    """`devcontainer up` on a copy owned by the host user; removes what it made afterwards."""
    if not CLI.exists():
        pytest.fail(
            f"the devcontainer CLI is missing ({CLI.relative_to(REPO)}): install the pinned "
            f"version with `{INSTALL}`",
            pytrace=False,
        )
    user = host_user()
    scratch = Path(tempfile.mkdtemp(prefix="lockstep-devcontainer-", dir="/tmp"))
    kit.scratch.append(scratch)
    scratch.chmod(0o755)
    project = kit.copy("devcontainer", dest=scratch / "project", shared_poetry=False)
    for path in [scratch, *scratch.rglob("*")]:
        os.lchown(path, user.uid, user.gid)
    box = Opened(user, project, engine.cli)
    try:
        box.cli("up", "--remove-existing-container")
        yield box
    finally:
        _remove_container(kit, project)


def _remove_container(kit, project: Path) -> None:
    """The container and the uid-matched image the CLI made for this copy's path."""
    ids = kit.docker(
        "ps", "--all", "--quiet", "--filter", f"label=devcontainer.local_folder={project}"
    ).stdout.split()
    images = [
        kit.docker("inspect", "--format", "{{.Config.Image}}", cid, check=False).stdout.strip()
        for cid in ids
    ]
    if ids:
        kit.docker("rm", "--force", *ids, check=False)
    kit.remove_images(*(image for image in images if image.endswith("-uid")))


@pytest.fixture(scope="module")
def repro_inside(opened: Opened) -> Opened:
    opened.exec("invoke", "repro")
    return opened


@pytest.fixture(scope="module")
def repro_on_host(kit, runtime_image) -> Path:
    """The reference: `invoke repro` on the host (the pipeline in the batch image)."""
    return kit.reproduced("devcontainer-host")


def test_the_tests_run_inside(opened: Opened) -> None:
    # A sample that imports what the editor's tests need (the pipeline's libraries, the kit's
    # runtime, pytest and its plugins); the whole unit tier runs on the host already.
    sample = ["tests/unit/lockstep/runtime", "tests/unit/credit_model/stages/test_train.py"]
    proc = opened.exec("pytest", *sample, "-q", "-p", "no:cacheprovider")
    assert " passed" in proc.stdout and "failed" not in proc.stdout, proc.stdout


def test_repro_inside_equals_the_host_run_with_the_batch_fingerprint(
    kit, repro_inside: Opened, repro_on_host: Path, runtime_image
) -> None:
    inside, host = repro_inside.project, repro_on_host
    assert set(kit.out_hashes(inside)) == kit.outputs
    assert kit.out_hashes(inside) == kit.out_hashes(host)

    record = json.loads((inside / lineage.PATH).read_text())
    assert set(record["stages"]) == {"ingest", "features", "train", "evaluate", "report"}
    batch = json.loads((host / lineage.PATH).read_text())["stages"]
    commit = kit.git(inside, "rev-parse", "HEAD").strip()
    for name, entry in record["stages"].items():
        assert batch[name]["image_id"] == runtime_image.id, name
        # The batch image's label, computed in it at build time; the record's, in the editor.
        assert entry["fingerprint"] == runtime_image.fingerprint == batch[name]["fingerprint"]
        assert entry["where"] == "devcontainer", name
        assert entry["image_id"] is None, name
        assert (entry["commit"], entry["dirty"]) == (commit, False), name
    assert (inside / "environment.yaml").read_text() == (host / "environment.yaml").read_text()


def test_files_made_inside_belong_to_the_host_user(repro_inside: Opened) -> None:
    project, user = repro_inside.project, repro_inside.user
    repro_inside.exec("sh", "-c", "mkdir -p made-inside && touch made-inside/file")
    assert (project / "made-inside" / "file").is_file()
    assert (project / "outputs" / "train" / "model.pkl").is_file()
    foreign = [
        f"{path.relative_to(project)} {path.lstat().st_uid}"
        for path in [project, *project.rglob("*")]
        if path.lstat().st_uid != user.uid
    ]
    assert not foreign, f"files not owned by {user.name} ({user.uid}):\n" + "\n".join(foreign)


def test_root_on_the_host_is_told_what_to_do_then_works_as_root(kit, engine, monkeypatch):
    """The CLI never maps the container user to uid 0: a root host user is stopped with the
    remedy before anything starts, and with it works as root inside, in their own files."""
    machines.require_root("opens the devcontainer as root on the host")
    root = HostUser(0, 0, Path(pwd.getpwuid(0).pw_dir), "root")
    box = Opened(root, kit.copy("devcontainer-root"), engine.cli)
    monkeypatch.delenv("LOCKSTEP_DEVCONTAINER_USER", raising=False)
    refused = box.cli("up", "--remove-existing-container", check=False)
    try:
        assert refused.returncode != 0
        assert "set LOCKSTEP_DEVCONTAINER_USER=root" in refused.stdout + refused.stderr
        assert not kit.docker(
            "ps", "--all", "--quiet", "--filter", f"label=devcontainer.local_folder={box.project}"
        ).stdout.strip(), "a container was started anyway"

        monkeypatch.setenv("LOCKSTEP_DEVCONTAINER_USER", "root")
        box.cli("up", "--remove-existing-container")  # its postCreateCommand runs `dvc status`
        assert box.exec("id", "-u").stdout.strip() == "0"
        box.exec("sh", "-c", "touch made-inside && dvc status")
        assert (box.project / "made-inside").stat().st_uid == 0
    finally:
        _remove_container(kit, box.project)
