"""A real SSH/SFTP server for the tests: Debian's OpenSSH `sshd`, the DVC remote teammates share.

On 127.0.0.1 at a free port, with a host key and a client key made for it, and one throwaway
account: as root, a user of its own (`lockstep-remote`), as anyone else the user running the
tests (an sshd started by an ordinary user can only log that user in). The client side is a
home folder of its own whose `.ssh/known_hosts` trusts the server: DVC's SSH plugin (asyncssh)
checks host keys there, as `ssh` does, so a test's DVC runs with `HOME` set to it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from tests.support import machines
from tests.support.commands import free_port

SSHD = "/usr/sbin/sshd"
REMOTE_USER = "lockstep-remote"


class SSHServer:
    """sshd on 127.0.0.1 serving SFTP to one account, with keys of its own."""

    def __init__(self) -> None:
        # Outside pytest's 0700 temporary area: the account must reach its storage folder.
        self.folder = Path(tempfile.mkdtemp(prefix="lockstep-sshd-", dir="/var/tmp"))
        self.folder.chmod(0o755)
        self.port = free_port()
        self.user = self._account()
        self.process: subprocess.Popen | None = None
        self.key = self.folder / "client_key"
        self.home = self.folder / "home"

    @staticmethod
    def _account() -> pwd.struct_passwd:
        if os.geteuid() != 0:
            return pwd.getpwuid(os.getuid())
        account = machines.plain_user(REMOTE_USER)
        # useradd locks a new account ("!"), and sshd refuses locked accounts even for keys:
        # "*" is no password, and not locked.
        subprocess.run(["usermod", "--password", "*", REMOTE_USER], check=True)
        return account

    def storage(self, name: str) -> Path:
        """A folder the account owns, for one remote."""
        path = self.folder / "storage" / name
        path.mkdir(parents=True, exist_ok=True)
        for folder in (path, path.parent):
            os.chown(folder, self.user.pw_uid, self.user.pw_gid)
        return path

    def url(self, name: str) -> str:
        """The `ssh://` URL of a remote folder, as `dvc remote add` takes it."""
        return f"ssh://{self.user.pw_name}@127.0.0.1:{self.port}{self.storage(name)}"

    def env(self) -> dict[str, str]:
        """Variables for a DVC client of this server: a home that trusts its host key."""
        return {"HOME": str(self.home)}

    def start(self, timeout: float = 30) -> SSHServer:
        """Start the server; again after `kill`, on the same port with the same keys."""
        if not Path(SSHD).is_file():
            pytest.fail(
                "the remote tests need sshd (Debian: apt-get install openssh-server)",
                pytrace=False,
            )
        config = self.folder / "sshd_config"
        if not config.exists():
            self._configure(config)
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # its privilege separation
        log = open(self.folder / "sshd.log", "ab")  # noqa: SIM115 (the process holds it)
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"sshd did not listen on port {self.port}:\n{self.log()}", pytrace=False)

    def _configure(self, config: Path) -> None:
        """Keys for both ends, the client's known_hosts, and the server's config file."""
        host_key = self.folder / "host_key"
        for path in (host_key, self.key):
            _keygen(path)
        authorized = self.folder / "authorized_keys"
        shutil.copyfile(self.key.with_suffix(".pub"), authorized)
        authorized.chmod(0o644)
        ssh_dir = self.home / ".ssh"
        ssh_dir.mkdir(parents=True)
        kind, public = host_key.with_suffix(".pub").read_text().split()[:2]
        (ssh_dir / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {kind} {public}\n")
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
            f"PidFile {self.folder / 'sshd.pid'}\nAuthorizedKeysFile {authorized}\n"
            f"AllowUsers {self.user.pw_name}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            "StrictModes no\nSubsystem sftp internal-sftp\nLogLevel VERBOSE\n"
        )

    def log(self) -> str:
        path = self.folder / "sshd.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def kill(self) -> None:
        """Kill the server and every session it serves at once, as a crash would.

        Each session is a process of its own, which outlives the listener: stopped first, the
        listener forks no new one while they are killed.
        """
        listener = psutil.Process(self.process.pid)
        listener.suspend()
        for process in [*listener.children(recursive=True), listener]:
            process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        """Stop the server and remove its keys and storage."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lockstep-tests", "-f", str(path)],
        check=True,
    )
