"""The Docker engine as the kit uses it: one docker CLI that reaches the engine with BuildKit.

The first `docker` on PATH may be a new client without the buildx plugin, which refuses to build
with BuildKit on; Debian's docker.io client (20.10) has BuildKit built in. The user can choose
one with LOCKSTEP_DOCKER or `docker` in [tool.lockstep]; otherwise the first working candidate
is used and named.

Every docker call goes through an Engine (`run`, `output`, `read_from`, `write_to`), which tells
the engine going away midway (stopped, killed, restarted) from a command's own failure, in one
place, and raises EngineStoppedError for it.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import re
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, TypeVar

from lockstep import shell
from lockstep.errors import CommandError, EngineError, EngineStoppedError
from lockstep.shell import say

CANDIDATES = ("docker", "/usr/bin/docker")
BUILDKIT_ENV = {"DOCKER_BUILDKIT": "1"}
START = "`sudo systemctl start docker`, or `dockerd &`"
# How the docker CLI says, on its last line, that its engine went away or is not there: a call
# that found no engine, a build's or a load's broken connection, an attached run's lost wait.
# The engine's own refusals ("Error response from daemon: ...") never match.
_LOST = re.compile(
    r"Cannot connect to the Docker daemon|failed to connect to the docker API"
    r"|^(docker: )?(error during connect: |error waiting for container: (unexpected )?EOF$"
    r"|(unexpected )?EOF$)"
)
# The engine's answer to a command it refused (a missing image, a registry's error): it is up.
_ANSWERED = re.compile(r"Error response from daemon|No such (image|container|object)")
# A line the docker CLI logs rather than prints: time="..." level=error msg="..."
_LOGGED = re.compile(r'^time="[^"]*" level=\w+ msg="(?P<message>.*)"$')
T = TypeVar("T")


@dataclass(frozen=True)
class Engine:
    """A docker CLI known to reach the engine and to build with BuildKit."""

    cli: str

    def run(self, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
        """Run `docker ARGS` with BuildKit enabled (`shell.run`'s keyword arguments).

        Raises:
            EngineStoppedError: it failed because the engine went away, `check` or not: that
                failure is no answer for the caller to read (no such image, say).
        """
        with self._watched(args):
            proc = shell.run([self.cli, *args], env=BUILDKIT_ENV, **kwargs)
        if proc.returncode:
            self._check_engine(args, (proc.stdout or "") + (proc.stderr or ""))
        return proc

    def output(self, *args: str) -> str:
        """Run `docker ARGS` quietly and return its output."""
        return self.run(*args, capture=True, quiet=True).stdout.strip()

    def read_from(self, *args: str, consume: Callable[[IO[bytes]], T]) -> T:
        """Run `docker ARGS`, its standard output handed to `consume` (`shell.read_from`)."""
        with self._watched(args):
            return shell.read_from([self.cli, *args], consume, env=BUILDKIT_ENV)

    def write_to(
        self,
        *args: str,
        produce: Callable[[IO[bytes]], None],
        progress: tuple[str, int] | None = None,
    ) -> None:
        """Run `docker ARGS`, `produce` writing its standard input (`shell.write_to`)."""
        with self._watched(args):
            shell.write_to([self.cli, *args], produce, env=BUILDKIT_ENV, progress=progress)

    @contextlib.contextmanager
    def _watched(self, args: Sequence[str]) -> Iterator[None]:
        """`_check_engine` for a docker command that raised CommandError."""
        try:
            yield
        except CommandError as exc:
            self._check_engine(args, exc.log)
            raise

    def _check_engine(self, args: Sequence[str], output: str) -> None:
        """Raise EngineStoppedError when `docker ARGS`, which failed, lost its engine.

        Its last line says so (`_LOST`), or, unless the engine refused the command itself
        (`_ANSWERED`: a missing image, which `inspect` is often told), the engine no longer
        answers a probe. Checked for every docker call, as a call just after the engine went
        away fails too.
        """
        line = _last_line(output)
        if not _LOST.search(line):
            if _ANSWERED.search(line):
                return
            probe = shell.run(
                [self.cli, "version", "--format", "{{.Server.Version}}"],
                capture=True,
                quiet=True,
                check=False,
            )
            if probe.returncode == 0:
                return
            line = _last_line(probe.stderr) or "it does not answer"
        verb = " ".join(itertools.takewhile(str.isalpha, args[:2]))
        raise EngineStoppedError(
            f"the Docker engine stopped during `docker {verb}`: {line}",
            f"start it again ({START}), then run the task again: what did not finish was not "
            "recorded",
        )

    def inspect(self, ref: str) -> dict | None:
        """The image's inspect record, or None when no such image is here."""
        proc = self.run("image", "inspect", ref, capture=True, quiet=True, check=False)
        if proc.returncode != 0:
            return None
        return json.loads(proc.stdout)[0]

    def image_id(self, ref: str) -> str | None:
        """The image id (`sha256:...`) of a local image, or None."""
        record = self.inspect(ref)
        return record["Id"] if record else None

    def engine_id(self) -> str:
        """The engine's own ID (`docker info`), which tells one engine, or machine, from another.

        Made once when the engine first starts and kept in its data root: two users of one
        engine see the same ID, an engine of its own (rootless, another host) another.
        """
        return self.output("info", "--format", "{{.ID}}")

    def labels(self, ref: str) -> dict[str, str]:
        """The labels of a local image."""
        record = self.inspect(ref) or {}
        return (record.get("Config") or {}).get("Labels") or {}


def own_name(name: str) -> str:
    """`name` with a random suffix: a name for one build's scratch image or volume alone.

    One engine serves every project and every clone of one: a fixed name for scratch (a draft
    image, a check's images, a volume) would let two builds at once retarget or remove what the
    other is still using. Only the kit's scratch names get this; the names it keeps (content
    and commit tags, the base's) are shared on purpose, as they name content.
    """
    return f"{name}-{secrets.token_hex(6)}"


@functools.cache
def find(preferred: str = "") -> Engine:
    """Return an Engine for the preferred CLI, or the first candidate that works.

    Raises:
        EngineError: no docker CLI, no engine, or no BuildKit; the message says what to do.
    """
    names = [preferred] if preferred else list(CANDIDATES)
    found = [path for name in names if (path := shutil.which(name))]
    if not found:
        raise EngineError(
            f"no docker CLI found (looked for {', '.join(names)})",
            "install Docker (Debian: apt-get install docker.io) or set LOCKSTEP_DOCKER",
        )
    paths = list(dict.fromkeys(found))
    # Every candidate is probed at once: each probe reaches the engine (tens of milliseconds),
    # and where there are two the first is often a new client without buildx.
    with ThreadPoolExecutor(len(paths)) as pool:
        verdicts = list(pool.map(_problem, paths))
    problems = []
    for path, problem in zip(paths, verdicts, strict=True):
        if problem is None:
            if problems:
                say(f"using {path} ({problems[-1]})")
            return Engine(path)
        problems.append(problem)
    if any("engine" in problem for problem in problems):
        raise EngineError(
            f"cannot reach the Docker engine: {problems[0]}",
            f"start it ({START}) or set DOCKER_HOST",
        )
    raise EngineError(
        f"no docker CLI with BuildKit: {'; '.join(problems)}",
        "install the buildx plugin, or set LOCKSTEP_DOCKER to a CLI with BuildKit built in "
        "(Debian's /usr/bin/docker)",
    )


def _problem(cli: str) -> str | None:
    """Why this CLI cannot be used, or None when it can."""
    try:
        versions = shell.output([cli, "version", "--format", "{{json .}}"])
    except CommandError as exc:
        return f"{cli} cannot reach the engine ({exc.message})"
    try:
        client = json.loads(versions).get("Client", {}).get("Version", "0")
    except (json.JSONDecodeError, AttributeError):
        return f"{cli} is not a docker CLI: `{cli} version` printed no version record"
    if _major(client) < 23:
        return None  # BuildKit is built into clients before 23.0
    if shell.run([cli, "buildx", "version"], capture=True, quiet=True, check=False).returncode:
        return f"{cli} {client} has no buildx plugin"
    return None


def _last_line(output: str) -> str:
    """The docker CLI's last line of output, as it would print it (without its log prefix)."""
    lines = output.strip().splitlines()
    line = lines[-1].strip() if lines else ""
    logged = _LOGGED.match(line)
    return logged["message"] if logged else line


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0
