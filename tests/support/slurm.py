"""A real Slurm cluster for the tests: Debian's munged, slurmctld and slurmd, one node, no systemd.

Everything lives in a folder of its own: slurm.conf, a munge key and socket, state, spool, logs
and pid files. The daemons run in the foreground as children of the tests (stopped by pid), on
free ports of 127.0.0.1, so a cluster the machine runs already (on Slurm's usual ports, with the
system's munge key) is never touched. Clients find it through `SLURM_CONF`, as on any cluster.

The node is this machine as `slurmd -C` describes it. Root only: slurmd must start each job as
the user who submitted it, which takes root. Its cgroup plugins need systemd or a writable
cgroup tree, so processes are tracked by their parent pids (proctrack/linuxproc) instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import machines
from tests.support.commands import free_port

DAEMONS = {"munged": "munge", "slurmctld": "slurmctld", "slurmd": "slurmd"}  # Debian package
SBIN = Path("/usr/sbin")


# How many jobs share a core of the test node (OverSubscribe=FORCE).
SHARED = 4


class Cluster:
    """munged, slurmctld and slurmd on 127.0.0.1, with a config of their own."""

    def __init__(self) -> None:
        # Outside pytest's 0700 temporary area: a job's user must read slurm.conf and reach the
        # munge socket. Short: the socket's path must fit in 108 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="lockstep-slurm-", dir="/var/tmp"))
        self.folder.chmod(0o755)
        self.conf = self.folder / "slurm.conf"
        self.controller_port = free_port()
        self.node_port = free_port()
        self.processes: dict[str, subprocess.Popen] = {}

    def env(self) -> dict[str, str]:
        """The variables a Slurm client needs to reach this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def start(self, timeout: float = 60) -> Cluster:
        """Write the config, start the three daemons, wait until the node is idle; returns self."""
        machines.require_root("starts a Slurm cluster whose jobs run as their submitters")
        missing = [package for name, package in DAEMONS.items() if not (SBIN / name).is_file()]
        if missing or not shutil.which("sbatch"):
            needed = " ".join([*missing, "slurm-client"])
            pytest.fail(f"the Slurm tests need Slurm (apt-get install {needed})", pytrace=False)
        self._write_munge_key()
        self.conf.write_text(self._config())
        munge = self.folder / "munge"
        self._spawn(
            "munged",
            "--foreground",
            "--force",  # as root, and with a key no package installed
            f"--key-file={munge / 'munge.key'}",
            f"--socket={munge / 'munge.socket'}",
            f"--pid-file={munge / 'munged.pid'}",
            f"--seed-file={munge / 'munged.seed'}",
            f"--log-file={self.folder / 'log' / 'munged.log'}",
        )
        self.start_controller()
        self._spawn("slurmd", "-D")
        self._wait_until_idle(timeout)
        return self

    def start_controller(self) -> None:
        """Start slurmctld, which recovers its jobs from the state folder."""
        self._spawn("slurmctld", "-D")

    @contextlib.contextmanager
    def controller_down(self) -> Iterator[None]:
        """Stop slurmctld for the block, then start it again and wait for the node."""
        _stop(self.processes.pop("slurmctld"))
        try:
            yield
        finally:
            self.start_controller()
            self._wait_until_idle(60)

    def run(self, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
        """A Slurm client command (sinfo, scontrol, ...) against this cluster, captured."""
        env = {**os.environ, **self.env(), **kwargs.pop("env", {})}
        return subprocess.run(args, env=env, capture_output=True, text=True, **kwargs)

    def log(self) -> str:
        """The end of every daemon's log, for failure messages."""
        logs = sorted((self.folder / "log").glob("*"))
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-2000:]}" for path in logs
        )

    def stop(self) -> None:
        """Cancel every job, stop the daemons by pid, remove the folder."""
        # Jobs outlive slurmd (each has a slurmstepd of its own), so cancel them first.
        if "slurmctld" in self.processes and (jobs := self._jobs()):
            self.run("scancel", "--full", *jobs, timeout=30)
            self._wait_for_no_jobs(30)
        for name in ("slurmd", "slurmctld", "munged"):
            if name in self.processes:
                _stop(self.processes.pop(name))
        shutil.rmtree(self.folder, ignore_errors=True)

    def _config(self) -> str:
        # `slurmd -C` prints the node as slurmd sees it; configuring less drains the node.
        node = subprocess.run(
            [SBIN / "slurmd", "-C"], capture_output=True, text=True, check=True
        ).stdout.splitlines()[0]
        fields = dict(field.split("=", 1) for field in node.split())
        memory_per_cpu = int(fields["RealMemory"]) // int(fields["CPUs"])
        host = socket.gethostname()
        folder = self.folder
        return "\n".join(
            [
                "ClusterName=lockstep",
                f"SlurmctldHost={host}(127.0.0.1)",
                f"SlurmctldPort={self.controller_port}",
                f"SlurmdPort={self.node_port}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={folder / 'munge' / 'munge.socket'}",
                f"StateSaveLocation={folder / 'state'}",
                f"SlurmdSpoolDir={folder / 'spool'}",
                f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
                f"SlurmdPidFile={folder / 'slurmd.pid'}",
                f"SlurmctldLogFile={folder / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={folder / 'log' / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "MpiDefault=none",
                "MailProg=/bin/true",
                # Cores and memory are both consumed, as on a real cluster. This node has few
                # cores (2 here): up to SHARED jobs share each, and a job that asks for no
                # memory gets a SHARED-th of its CPU's, so the tests' jobs run side by side.
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                f"DefMemPerCPU={memory_per_cpu // SHARED}",
                "ReturnToService=2",
                # A client gives up on a controller that is down after about this less one
                # second: 9 s by default, for each command of the controller-down test.
                "MessageTimeout=5",
                f"{node} NodeAddr=127.0.0.1 State=UNKNOWN",
                f"PartitionName=debug Nodes={fields['NodeName']} Default=YES State=UP "
                f"OverSubscribe=FORCE:{SHARED}",
                "",
            ]
        )

    def _write_munge_key(self) -> None:
        for name in ("munge", "state", "spool", "log"):
            (self.folder / name).mkdir(mode=0o755)
        key = self.folder / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)  # munged refuses a key others can read

    def _spawn(self, name: str, *args: str) -> None:
        log = open(self.folder / "log" / f"{name}.out", "ab")  # noqa: SIM115 (the process holds it)
        self.processes[name] = subprocess.Popen(
            [SBIN / name, *args], env={**os.environ, **self.env()}, stdout=log, stderr=log
        )
        log.close()

    def _wait_until_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        # Before sinfo: a client waits seconds for a controller that does not listen yet.
        while not _listens(self.controller_port):
            self._check_alive(deadline)
            time.sleep(0.1)
        while self.run("sinfo", "--noheader", "--format=%t", timeout=30).stdout.strip() != "idle":
            self._check_alive(deadline)
            time.sleep(0.2)

    def _jobs(self) -> list[str]:
        return self.run("squeue", "--noheader", "--format=%i", timeout=30).stdout.split()

    def _wait_for_no_jobs(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._jobs():
            if time.monotonic() > deadline:
                return  # stopping the daemons is what matters now
            time.sleep(0.2)

    def _check_alive(self, deadline: float) -> None:
        ended = [name for name, process in self.processes.items() if process.poll() is not None]
        if ended or time.monotonic() > deadline:
            problem = f"{', '.join(ended)} ended" if ended else "the node did not become idle"
            log = self.log()
            self.stop()
            pytest.fail(f"the Slurm cluster did not start: {problem}:\n{log}", pytrace=False)


def _listens(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
