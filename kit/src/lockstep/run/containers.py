"""Run a command in an image, on the workspace, as the invoking user.

The workspace is bind-mounted at the same place every time, the process runs as the caller's
uid:gid (so every file it writes belongs to them), with the caller's numeric settings
(`OMP_NUM_THREADS`, `OPENBLAS_CORETYPE`, ...), DVC's hash cache persists on the host between
runs, and the CA bundle is mounted read-only. Ctrl-C, SIGTERM or SIGHUP stops and removes the
container, and a second Ctrl-C cannot cut that short; a container that a killed run left behind
is found by its workspace label: removed when stopped, refused while it runs. The exit code is
the command's.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from lockstep import paths
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import WorkspaceBusyError
from lockstep.runtime import machine

CA_TARGET = "/etc/ssl/certs/lockstep-ca.pem"
CONTAINER_PREFIX = "lockstep-run-"
# Every run container names its workspace, so that a later run finds one a killed run left.
WORKSPACE_LABEL = "io.lockstep.workspace"
# Ctrl-C, a `kill`, a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _new_name() -> str:
    return CONTAINER_PREFIX + secrets.token_hex(6)


@dataclass(frozen=True)
class Run:
    """One container run: what to start.

    Frozen, and every field a tuple or a string: each `with_*` returns a new run, so a run
    derived from another (a Slurm job's, limited; a sweep point's) never changes its original.
    """

    settings: Settings
    engine: Engine
    image: str
    command: Sequence[str]  # kept as a tuple
    env: tuple[tuple[str, str], ...] = ()  # (name, value) pairs
    volumes: tuple[str, ...] = ()
    name: str = field(default_factory=_new_name)
    network: str = ""
    limits: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A caller's list is copied: nothing it changes afterwards reaches the run.
        object.__setattr__(self, "command", tuple(self.command))

    def with_env(self, **env: str) -> Run:
        """This run with more environment variables."""
        return replace(self, env=tuple({**dict(self.env), **env}.items()))

    def with_network(self, network: str) -> Run:
        """This run on a docker network (`none`: no network at all)."""
        return replace(self, network=network)

    def with_limits(self, cpus: int = 0, memory: str = "") -> Run:
        """This run with its container's CPUs and memory capped (memory as Slurm writes it).

        The memory is a Slurm size: 16G, 4000M, or 4000 (megabytes). A Slurm job's own limits
        do not reach its container, a child of the Docker engine, not of the job: the job asks
        for them, the container is held to them.
        """
        limits = ("--cpus", str(cpus)) if cpus else ()
        if memory:
            limits += ("--memory", memory.lower() if memory[-1].isalpha() else f"{memory}m")
        return replace(self, limits=self.limits + limits)

    def with_volume(self, host: str, target: str = "", mode: str = "rw") -> Run:
        """This run with a host path mounted (at the same path unless `target` is given).

        A mount it has already is not added again: docker refuses two at one target (a sweep
        point mounts the cache its run may mount already).
        """
        volume = f"{host}:{target or host}:{mode}"
        return self if volume in self.volumes else replace(self, volumes=(*self.volumes, volume))

    def with_command(self, *command: str) -> Run:
        """This run with another command."""
        return replace(self, command=command)

    def on_tree(self, root: Path) -> Run:
        """This run on another tree (a worktree), as a container of its own: a new name."""
        return replace(self, settings=replace(self.settings, root=root), name=_new_name())

    def arguments(self) -> list[str]:
        """The `docker run` arguments."""
        settings, workdir = self.settings, self.settings.workdir
        site_cache = settings.path(paths.DVC_SITE_CACHE)
        site_cache.mkdir(parents=True, exist_ok=True)
        env = {
            "HOME": "/home/lockstep",
            # The caller's uid may have no passwd entry in the image; DVC needs a user name.
            "USER": "lockstep",
            "LOGNAME": "lockstep",
            "PYTHONPATH": f"{workdir}/src",
            # Persisted on the host: otherwise every run rehashes every file.
            "DVC_SITE_CACHE_DIR": f"{workdir}/{paths.DVC_SITE_CACHE}",
            "DVC_NO_ANALYTICS": "1",
            "LOCKSTEP_WHERE": "container",
            # The caller's thread counts and kernel choices apply, as they would outside; the
            # lineage records them (`lockstep.runtime.machine`).
            **machine.passed_on(),
            **dict(self.env),
        }
        args = ["run", "--rm", "--init", "--name", self.name]
        args += ["--label", f"{WORKSPACE_LABEL}={settings.root}"]
        args += ["--user", f"{os.getuid()}:{os.getgid()}"]
        if self.network:
            args += ["--network", self.network]
        args += self.limits
        args += ["--volume", f"{settings.root}:{workdir}", "--workdir", workdir]
        for volume in self.volumes:
            args += ["--volume", volume]
        ca = settings.ca_bundle_path()
        if ca:
            args += ["--volume", f"{ca}:{CA_TARGET}:ro"]
            env.update(PIP_CERT=CA_TARGET, SSL_CERT_FILE=CA_TARGET, REQUESTS_CA_BUNDLE=CA_TARGET)
        for key, value in sorted(env.items()):
            args += ["--env", f"{key}={value}"]
        return [*args, self.image, *self.command]

    def captured(self) -> str:
        """Run to completion quietly; the command's standard output."""
        return self.engine.output(*self.arguments())

    def start(self, *, cleared: bool = False) -> int:
        """Run to completion, streaming output; return the command's exit code.

        Args:
            cleared: the caller ran `clear_leftovers` already, under the workspace lock.

        Raises:
            WorkspaceBusyError: a container of an earlier run on this workspace still runs
                (its run was killed before it could stop it).
        """
        if not cleared:
            clear_leftovers(self.settings, self.engine)
        with self._stopped_on_signal():
            proc = self.engine.run(*self.arguments(), tee=True, show=True, check=False)
        return proc.returncode

    def stop(self) -> None:
        """Remove the container if it still exists; a second Ctrl-C cannot cut this short."""
        ignored = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
        try:
            self.engine.run("rm", "--force", self.name, capture=True, quiet=True, check=False)
        finally:
            for sig, handler in ignored.items():
                signal.signal(sig, handler)

    @contextlib.contextmanager
    def _stopped_on_signal(self) -> Iterator[None]:
        """Turn SIGTERM and SIGHUP into KeyboardInterrupt; remove the container on any."""
        previous = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS[1:]}
        try:
            yield
        except KeyboardInterrupt:
            self.stop()
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def clear_leftovers(settings: Settings, engine: Engine) -> None:
    """Remove stopped containers of earlier runs on this workspace; refuse a running one.

    Raises:
        WorkspaceBusyError: one still runs, named with how to stop it.
    """
    label = f"{WORKSPACE_LABEL}={settings.root}"
    listed = engine.run(
        "ps",
        "--all",
        "--filter",
        f"label={label}",
        "--format",
        "{{.Names}} {{.State}}",
        capture=True,
        quiet=True,
    ).stdout.split("\n")
    for name, state in (line.split(" ", 1) for line in listed if line.strip()):
        if state == "running":
            raise WorkspaceBusyError(
                f"the container {name} of an earlier run still works on this workspace",
                f"wait for it to end, or stop it: docker rm --force {name}",
            )
        engine.run("rm", "--force", name, capture=True, quiet=True, check=False)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
