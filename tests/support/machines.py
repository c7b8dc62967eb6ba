"""Other users and other machines: a plain user, and a second, empty Docker engine."""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock
from lockstep import shell

from tests.support import deadlines


def require_root(why: str) -> None:
    """Fail (in CI, which runs as root) or skip (elsewhere) a test that needs root."""
    if os.geteuid() != 0:
        reason = f"{why}: run the tests as root"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


def plain_user(name: str, *, home: bool = False, groups: str = "") -> pwd.struct_passwd:
    """A user with no special rights and its own /etc/subuid range, made once (needs root).

    `groups` (comma-separated) are extra groups, from its first login on: what a Slurm job
    gets, since slurmd starts it with the groups /etc/group gives the user.
    """
    # Parallel workers ask for the same users: useradd locks /etc/passwd and fails for the
    # second, or both see no user yet and the second fails with "already exists".
    with host_lock("users"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            # Debian's useradd also gives the user a subordinate id range (/etc/subuid).
            extra = ["--create-home"] if home else []
            extra += ["--groups", groups] if groups else []
            cmd = ["useradd", "--user-group", "--shell", "/bin/sh", *extra, name]
            subprocess.run(cmd, check=True)
            return pwd.getpwnam(name)


@dataclass(frozen=True)
class UserProject:
    """A project a plain user in the docker group owns, with a home of its own, and the kit's
    `invoke` run there as that user: another person on the same machine (as root, a user made
    for the test; otherwise whoever runs the tests, who is one)."""

    user: pwd.struct_passwd
    root: Path
    home: Path
    bin_dir: Path
    command: tuple[str, ...]

    @classmethod
    def hand_over(cls, project: Path, name: str, bin_dir: Path) -> UserProject:
        """Give `project` (alone in a scratch folder of its own) to the plain user `name`.

        `bin_dir` holds the tests' `python`, `invoke` and `dvc`: when the user cannot run that
        interpreter (a venv made from a Python under /root), the same packages run on the
        system's Python of the same version instead, through a venv made for the user.
        """
        user = plain_user(name) if os.getuid() == 0 else pwd.getpwuid(os.getuid())
        scratch = project.parent
        home = scratch / "home"
        home.mkdir(exist_ok=True)
        scratch.chmod(0o755)
        command = [str(bin_dir / "invoke")]
        if python_for(user) != sys.executable:
            bridge = scratch / "venv"
            system = python_for(user)
            subprocess.run([system, "-m", "venv", "--without-pip", str(bridge)], check=True)
            (site_packages,) = bridge.glob("lib/python*/site-packages")
            host = sysconfig.get_paths()["purelib"]
            pth = f"import site; site.addsitedir({host!r})\n"
            (site_packages / "host-venv.pth").write_text(pth)
            command = [str(bridge / "bin" / "python"), "-m", "invoke"]
            # The kit runs DVC's CLI by name: one the user can run, first on PATH.
            dvc = bridge / "bin" / "dvc"
            python = bridge / "bin" / "python"
            dvc.write_text(f"#!{python}\nimport sys\nfrom dvc.cli import main\nsys.exit(main())\n")
            dvc.chmod(0o755)
            bin_dir = bridge / "bin"
        if os.getuid() == 0:
            for path in [scratch, *scratch.rglob("*")]:
                os.lchown(path, user.pw_uid, user.pw_gid)
        return cls(user, project, home, bin_dir, tuple(command))

    def invoke(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """`invoke -r PROJECT ARGS` as the user, its output captured (not checked)."""
        env = {
            "HOME": str(self.home),
            "USER": self.user.pw_name,
            "LOGNAME": self.user.pw_name,
            "PATH": f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": str(self.root / "src"),
            "DVC_NO_ANALYTICS": "1",
            # Every command the kit ran on the terminal too: the tests read them there.
            shell.VERBOSE_VARIABLE: "1",
            "LANG": "C.UTF-8",
            **{k: v for k, v in os.environ.items() if k in ("PIP_CERT", "SSL_CERT_FILE")},
        }
        as_user = {}
        if os.getuid() == 0:
            docker = grp.getgrnam("docker").gr_gid
            as_user = {
                "user": self.user.pw_uid,
                "group": self.user.pw_gid,
                "extra_groups": [docker],
            }
        return subprocess.run(
            [*self.command, "-r", str(self.root), *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=deadlines.step_timeout(timeout),
            check=False,
            **as_user,
        )

    def foreign_files(self) -> list[str]:
        """Files of the project the user does not own, with their owner."""
        foreign = []
        for path in [self.root, *self.root.rglob("*")]:
            info = path.lstat()
            if (info.st_uid, info.st_gid) != (self.user.pw_uid, self.user.pw_gid):
                foreign.append(f"{path.relative_to(self.root)} {info.st_uid}:{info.st_gid}")
        return foreign


def host_lock(name: str) -> FileLock:
    """A lock on something the whole machine shares (users, bridges, the engine's images),
    held across the suite's parallel workers, and across two suites run at once.

    Writable by every user: two users' suites on one machine share it (a file only its first
    user could open stopped every other user's suite). It lives in a folder of its own, not in
    /tmp itself: filelock refuses a lock file another user made in a sticky folder (that user
    could swap it during the hold), and a test lock's worst case is two suites overlapping.
    """
    return FileLock(host_locks() / f"{name}.lock", mode=0o666)


def host_locks() -> Path:
    """The folder of the machine-wide locks: writable by all, and not sticky."""
    folder = Path(tempfile.gettempdir()) / "lockstep-tests-locks"
    try:
        folder.mkdir()
        folder.chmod(0o777)  # mkdir's mode passes through the umask
    except FileExistsError:
        mode = folder.stat().st_mode & 0o7777
        if mode & 0o1777 != 0o777:
            pytest.fail(f"{folder} has mode {mode:o}, not 777: remove it", pytrace=False)
    return folder


def python_for(user: pwd.struct_passwd) -> str:
    """A Python of the tests' version that `user` can run: the tests' own, else the system's.

    The tests' interpreter may live where the user cannot reach (a venv on a Python under
    /root); the system's sees none of its packages, but the kit's ground needs none.
    """
    try:
        probe = subprocess.run([sys.executable, "-c", "pass"], user=user.pw_uid, check=False)
        if probe.returncode == 0:
            return sys.executable
    except PermissionError:
        pass
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/local/bin:/usr/bin:/bin")
    assert system, f"{user.pw_name} cannot run {sys.executable}, and there is no system {version}"
    return system


def _own_identity(root: Path) -> list[str]:
    """dockerd's flags for an engine ID of its own (kept in `root`), where it needs one.

    Before Docker 23 an engine's ID comes from its trust key, /etc/docker/key.json: one file for
    every dockerd on the host, so a second engine would report the machine engine's ID, and a
    quorum would take the two for one machine. A key of its own makes it another machine's
    engine; 20.10 takes its path only from a config file (`deprecated-key-path`, no flag). From
    23 on, the ID lives in the data root, and the setting is gone.
    """
    version = subprocess.run(["dockerd", "--version"], capture_output=True, text=True).stdout
    major = re.search(r"version (\d+)\.", version)
    if not major or int(major[1]) >= 23:
        return []
    config = root / "daemon.json"
    config.write_text(json.dumps({"deprecated-key-path": str(root / "key.json")}))
    return [f"--config-file={config}"]


class SecondEngine:
    """A Docker engine of its own: data root, exec root, socket and bridge. A new machine.

    With `disk` (MB), its data root is on a disk that small (a tmpfs at `disk_path`, which
    holds other folders too): a machine whose disk fills up.
    """

    def __init__(self, *options: str, disk: int | None = None) -> None:
        """`options`: more of dockerd's flags (`--max-download-attempts=1`...)."""
        self.options = options
        # Short: the engine's sockets live under it, and socket paths are limited to 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="lockstep-engine-", dir="/var/tmp"))
        self.disk = disk
        self.disk_path = self.root / "disk"
        self.bridge = ""
        self.subnet = ""
        self.host = f"unix://{self.root}/docker.sock"
        self.process: subprocess.Popen | None = None

    def start(self) -> SecondEngine:
        # Engines of parallel workers (and of another suite) each take a bridge and a /24 no
        # other holds: chosen and created under one lock, from what the host has now.
        with host_lock("bridges"):
            taken = _ip("-o", "address") + _ip("-o", "link")
            free = (n for n in range(20, 250) if f" 172.29.{n}." not in taken)
            number = next(n for n in free if f" lsbr{n}:" not in taken)
            self.bridge, self.subnet = f"lsbr{number}", f"172.29.{number}"
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        if self.disk:
            self.disk_path.mkdir()
            size = f"size={self.disk}m"
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", size, "tmpfs", self.disk_path], check=True
            )
        return self._launch()

    @property
    def data_root(self) -> Path:
        return self.disk_path / "docker" if self.disk else self.root / "data"

    def restart(self) -> SecondEngine:
        """A new dockerd on the same data root, after its last one stopped (was killed, say):
        the machine's engine started again."""
        assert self.process is not None and self.process.poll() is not None, "still running"
        # dockerd adopts the containerd its pid file names while that process exists; one its
        # killed parent left as a zombie (where nothing reaps orphans, as in a container) is
        # still there, and the new dockerd would wait for it to answer, in vain.
        pid_file = self.root / "exec" / "containerd" / "containerd.pid"
        if pid_file.exists() and not _alive(int(pid_file.read_text())):
            pid_file.unlink()
        return self._launch()

    def _launch(self) -> SecondEngine:
        """Start dockerd on this engine's folders and bridge; wait until it answers."""
        log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 (the process holds it)
        self.process = subprocess.Popen(
            [
                "dockerd",
                f"--data-root={self.data_root}",
                f"--exec-root={self.root / 'exec'}",
                f"--pidfile={self.root / 'dockerd.pid'}",
                f"--host={self.host}",
                f"--bridge={self.bridge}",
                *_own_identity(self.root),
                *self.options,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while subprocess.run(
            ["/usr/bin/docker", "--host", self.host, "version"], capture_output=True
        ).returncode:
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.log()
                self.stop()
                pytest.fail(f"the second engine did not start:\n{log}", pytrace=False)
            time.sleep(0.5)
        return self

    def __enter__(self) -> SecondEngine:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """What points the kit (and any docker CLI) at this engine."""
        return {"DOCKER_HOST": self.host}

    def image_id(self, ref: str) -> str | None:
        """The id of an image in this engine, or None when it has no such image."""
        proc = subprocess.run(
            [
                "/usr/bin/docker",
                "--host",
                self.host,
                "image",
                "inspect",
                "--format",
                "{{.Id}}",
                ref,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        return proc.stdout.strip() if proc.returncode == 0 else None

    def log(self) -> str:
        return (self.root / "dockerd.log").read_text(errors="replace")[-3000:]

    def resize_disk(self, megabytes: int) -> None:
        """Make the engine's small disk this big: what a user does who frees some space."""
        remount = ["mount", "-o", f"remount,size={megabytes}m", self.disk_path]
        subprocess.run(remount, check=True)

    def stop(self) -> None:
        """Stop the engine, then remove its bridge, its firewall rules and its files."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(60)
        if self.disk and self.disk_path.is_mount():
            # Lazily: the engine's overlay mounts under it go as the engine goes.
            subprocess.run(["umount", "--lazy", self.disk_path], check=True)
        if not self.bridge:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
        table = ""
        for line in rules.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith("-A ") and (self.bridge in line or f"{self.subnet}.0/" in line):
                subprocess.run(["iptables", "-t", table, "-D", *shlex.split(line)[1:]])
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether a process runs (exists, and is not a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _ip(*args: str) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"ip {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout
