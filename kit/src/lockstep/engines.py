"""The Docker engine as the kit uses it: one docker CLI that reaches the engine with BuildKit.

The first `docker` on PATH may be a new client without the buildx plugin, which refuses to build
with BuildKit on; Debian's docker.io client (20.10) has BuildKit built in. The user can choose
one with LOCKSTEP_DOCKER or `docker` in [tool.lockstep]; otherwise the first working candidate
is used and named.
"""

from __future__ import annotations

import functools
import json
import secrets
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lockstep import shell
from lockstep.errors import CommandError, EngineError
from lockstep.shell import say

CANDIDATES = ("docker", "/usr/bin/docker")
BUILDKIT_ENV = {"DOCKER_BUILDKIT": "1"}


@dataclass(frozen=True)
class Engine:
    """A docker CLI known to reach the engine and to build with BuildKit."""

    cli: str

    def run(self, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
        """Run `docker ARGS` with BuildKit enabled."""
        return shell.run([self.cli, *args], env=BUILDKIT_ENV, **kwargs)

    def output(self, *args: str) -> str:
        """Run `docker ARGS` quietly and return its output."""
        return shell.output([self.cli, *args], env=BUILDKIT_ENV)

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
            "start it (`sudo systemctl start docker`, or `dockerd &`) or set DOCKER_HOST",
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


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0
