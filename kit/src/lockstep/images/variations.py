"""What `invoke challenge` varies, each a record: its name, what it changes, how, what to do.

A variation changes something that must not matter to the runtime image. Applying a set of them
gives the `Conditions` one challenge build runs under; none of them (the control) is a build as
`invoke build --check` makes it, from the workspace itself.

Where each takes effect: the environment variables are the child process's (every command the
build runs inherits them); the umask, the CPU and the hostname are set by the child itself
(`enter`) before it makes anything, so they hold for the checkout's copy and for the build alike.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lockstep.errors import ConfigError

# A zone as far from UTC as there is (UTC+14), and a locale unlike the usual C or en_US.
ZONE = "Pacific/Kiritimati"
LOCALE = "fr_FR.UTF-8"
# The installing container's CPUs (`docker run --cpuset-cpus`), read by lockstep.images.packages.
CPUS_VARIABLE = "LOCKSTEP_INSTALL_CPUS"
HOSTNAME = "lockstep-challenger"
USER = "lockstep-challenger"
# Deeper than a checkout usually is, with a space: a path written into a file shows.
DEEP_PATH = "deeper/a checkout path with spaces"


@dataclass(frozen=True)
class Conditions:
    """What one challenge build runs under; the defaults are the control's (nothing varied).

    Attributes:
        env: variables added to the child's environment.
        umask: the child's umask (None: the caller's).
        one_cpu: the child, and the container that installs the distributions, on one CPU.
        hostname: the child's hostname, in a UTS namespace of its own ("": the machine's).
        copy: where under the challenge's folder the checkout's copy goes ("": no copy, the
            workspace itself).
        reverse: the copy's entries made in reverse order.
    """

    env: Mapping[str, str] = field(default_factory=dict)
    umask: int | None = None
    one_cpu: bool = False
    hostname: str = ""
    copy: str = ""
    reverse: bool = False

    def copied(self) -> Conditions:
        """The same, built from a fresh copy of the checkout (at a plain path unless varied)."""
        return self if self.copy else dataclasses.replace(self, copy="copy")


@dataclass(frozen=True)
class Variation:
    """One thing a challenge varies.

    Attributes:
        name: what `--vary` calls it.
        changes: what it changes, for `--help` and the docs.
        how: how it is applied.
        remedy: what to do when the image depends on it.
        apply: the conditions with this variation added; `folder` is the challenge's own.
    """

    name: str
    changes: str
    how: str
    remedy: str
    apply: Callable[[Conditions, Path], Conditions]


def _env(**values: str) -> Callable[[Conditions, Path], Conditions]:
    return lambda c, _: dataclasses.replace(c, env={**c.env, **values})


def _user(c: Conditions, folder: Path) -> Conditions:
    home = folder / "home"
    home.mkdir(exist_ok=True)
    # The docker CLI finds its engine (a context) and its plugins (buildx) in ~/.docker: kept.
    docker = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    env = {"USER": USER, "LOGNAME": USER, "HOME": str(home), "DOCKER_CONFIG": docker}
    return dataclasses.replace(c, env={**c.env, **env})


def _epoch(c: Conditions, _: Path) -> Conditions:
    # Now: a user's shell may set it for other tools; the kit passes the base's epoch itself.
    return dataclasses.replace(c, env={**c.env, "SOURCE_DATE_EPOCH": str(int(time.time()))})


def _umask(c: Conditions, _: Path) -> Conditions:
    return dataclasses.replace(c, umask=0o077).copied()


def _path(c: Conditions, _: Path) -> Conditions:
    return dataclasses.replace(c, copy=DEEP_PATH)


def _order(c: Conditions, _: Path) -> Conditions:
    return dataclasses.replace(c, reverse=True).copied()


_TIME_REMEDY = "date what the step writes from SOURCE_DATE_EPOCH, which the kit passes"
# The one place every variation is listed, in the order builds name them.
VARIATIONS = (
    Variation(
        "tz",
        "the clock's time zone",
        f"TZ={ZONE} (UTC+14)",
        _TIME_REMEDY,
        _env(TZ=ZONE),
    ),
    Variation(
        "locale",
        "the language and character set",
        f"LC_ALL and LANG={LOCALE}",
        "set LC_ALL in the step (or sort and format with fixed rules)",
        _env(LC_ALL=LOCALE, LANG=LOCALE, LANGUAGE="fr"),
    ),
    Variation(
        "epoch",
        "SOURCE_DATE_EPOCH in the caller's environment",
        "SOURCE_DATE_EPOCH=now",
        "pass the kit's epoch on (ARG SOURCE_DATE_EPOCH), never the caller's",
        _epoch,
    ),
    Variation(
        "user",
        "the building user's environment",
        f"USER and LOGNAME={USER}, HOME a new empty folder",
        "do not read the user's name or home in a build step",
        _user,
    ),
    Variation(
        "umask",
        "the umask",
        "077, also while the checkout's copy is made",
        "give the file its mode explicitly (COPY --chmod=644, or chmod in the step)",
        _umask,
    ),
    Variation(
        "path",
        "the checkout's path",
        f"a fresh clone of HEAD at a deeper path with spaces (…/{DEEP_PATH}/NAME)",
        "do not write the checkout's path into the image",
        _path,
    ),
    Variation(
        "hostname",
        "the hostname",
        f"{HOSTNAME}, in a UTS namespace of the build's own (root only)",
        "do not write the hostname into the image",
        lambda c, _: dataclasses.replace(c, hostname=HOSTNAME),
    ),
    Variation(
        "cpus",
        "the number of CPUs",
        "the build and the container installing the distributions on one CPU",
        "do not let a step's output depend on how many workers it ran",
        lambda c, _: dataclasses.replace(c, one_cpu=True),
    ),
    Variation(
        "order",
        "the order files are listed in",
        "the checkout's copy made in reverse order",
        "sort what a step lists before writing it",
        _order,
    ),
)
BY_NAME = {variation.name: variation for variation in VARIATIONS}


def default() -> tuple[Variation, ...]:
    """Every variation this user can apply: the hostname needs root (see `applicable`)."""
    return tuple(v for v in VARIATIONS if applicable(v))


def applicable(variation: Variation) -> bool:
    """Whether it can be applied here.

    A new hostname takes a UTS namespace: root's. An ordinary user's would be a user
    namespace's, in which the build would run as its root and hand the files it installs to
    that root, which is not the user.
    """
    return variation.name != "hostname" or os.geteuid() == 0


def chosen(names: str) -> tuple[Variation, ...]:
    """The variations `--vary` names (comma-separated), in their listed order; all by default.

    Raises:
        ConfigError: a name that is no variation, or one that cannot be applied here.
    """
    wanted = {name.strip() for name in names.split(",") if name.strip()}
    if not wanted:
        return default()
    unknown = sorted(wanted - set(BY_NAME))
    if unknown:
        raise ConfigError(
            f"--vary: no variation is called {unknown[0]!r}",
            f"choose among {', '.join(BY_NAME)}",
        )
    refused = [v.name for v in VARIATIONS if v.name in wanted and not applicable(v)]
    if refused:
        raise ConfigError(f"--vary: {refused[0]} needs root", "leave it out, or run as root")
    return tuple(v for v in VARIATIONS if v.name in wanted)


def conditions(variations: tuple[Variation, ...], folder: Path) -> Conditions:
    """The conditions with every one of `variations` applied."""
    result = Conditions()
    for variation in variations:
        result = variation.apply(result, folder)
    return result


def enter(c: Conditions) -> None:
    """Apply to this process what the environment cannot: umask, CPUs, hostname."""
    if c.umask is not None:
        os.umask(c.umask)
    if c.one_cpu:
        first = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {first})
        os.environ[CPUS_VARIABLE] = str(first)
    if c.hostname:
        import socket  # here: `invoke --help` imports this module for the variations' names

        socket.sethostname(c.hostname)  # in the UTS namespace `unshare --uts` gave it
