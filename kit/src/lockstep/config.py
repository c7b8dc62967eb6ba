"""Kit settings, with one owner: the [tool.lockstep] table of pyproject.toml.

Environment variables override a few settings for one machine (the docker CLI, the CA bundle)
without editing the project. Unknown keys are refused, so a typo never silently does nothing.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockstep.errors import ConfigError

CA_VARIABLES = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
# The private key that signs runs (`records.keys`); it wins over the `signing_key` setting.
SIGNING_KEY_VARIABLE = "LOCKSTEP_SIGNING_KEY"
# The operating system's bundle, the one curl and apt trust (Debian and Ubuntu, then Fedora):
# a login shell has none of the variables, and a proxy's CA is installed there.
SYSTEM_CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
DEFAULT_EPOCH = 1700000000
# The git tags that are releases: what `invoke gate` reruns, what `invoke push` names
# images after.
RELEASES = "model/*"


@dataclass(frozen=True)
class BaseSettings:
    """The base image: a registry image pinned by digest, or an offline Debian bootstrap."""

    image: str = ""
    allow_unpinned: bool = False
    suite: str = "bookworm"
    packages: tuple[str, ...] = ("python3", "python3-venv", "ca-certificates")
    manifest: str = "docker/base/packages.lock"
    epoch: int = DEFAULT_EPOCH
    # apt sources (URLs or `deb ...` lines) for fetching new packages; empty: apt's defaults.
    mirrors: tuple[str, ...] = ()
    # A Debian snapshot timestamp; with it, snapshot_mirrors (each with `{snapshot}` where the
    # timestamp goes) can serve the recorded versions after the live mirror has dropped them.
    snapshot: str = ""
    snapshot_mirrors: tuple[str, ...] = ()

    @property
    def bootstrap(self) -> bool:
        """True when the base is built from Debian packages rather than pulled."""
        return not self.image


@dataclass(frozen=True)
class RefreshSettings:
    """How `invoke refresh` finds champions, moves the data window and scores models.

    The kit knows no project's data: a project that refreshes names its own (see the example's
    pyproject.toml); until it does, `invoke refresh` says which setting is missing.
    """

    tag_prefix: str = "model/v"
    # Dotted params keys: the newest month of data, and how many months the holdout has.
    window: str = ""
    holdout: str = ""
    # Outputs: the model a stage writes, and the extract the scoring command reads.
    model: str = ""
    data: str = ""
    # The command that scores a model on some months: {model} {data} {months} {out}.
    score: str = ""
    # The columns of the scores it writes: the row keys and the observed outcome (0 or 1).
    keys: tuple[str, ...] = ()
    outcome: str = ""

    def missing(self) -> list[str]:
        """The settings a refresh needs that are not set."""
        return [name for name in REFRESH_NEEDS if not getattr(self, name)]


REFRESH_NEEDS = ("window", "holdout", "model", "data", "score", "keys", "outcome")


@dataclass(frozen=True)
class ValidationSettings:
    """What `invoke gate` requires of each release beyond its own identical rerun.

    `quorum` signed rerun statements (`lockstep.records.quorum`) by as many distinct validators'
    keys, from as many machines; `keys` is the folder of those validators' public keys. It is
    committed, so whoever may change it is whoever may change the project: protect it as the
    forge allows (code owners, a protected path) or have the CI write it from its secrets.
    """

    quorum: int = 0
    keys: str = ""

    def check(self) -> ValidationSettings:
        """Self, or one line naming the impossible value."""
        problem = ""
        if isinstance(self.quorum, bool) or self.quorum < 0:
            problem = f"quorum: expected a number of validators, got {self.quorum!r}"
        elif self.quorum and not self.keys:
            problem = "quorum needs keys: the folder of the validators' public keys"
        if problem:
            raise ConfigError(
                f"[tool.lockstep.validation] {problem}", "fix the value in pyproject.toml"
            )
        return self


EXECUTORS = ("local", "slurm")
# Slurm's own formats (sbatch(1)): a time limit is minutes, minutes:seconds,
# hours:minutes:seconds, days-hours, days-hours:minutes or days-hours:minutes:seconds; memory
# is a whole number with an optional unit (megabytes without one).
SLURM_TIME = re.compile(r"\d+(:\d{1,2}){0,2}|\d+-\d{1,2}(:\d{1,2}){0,2}")
SLURM_MEMORY = re.compile(r"[1-9]\d*[KMGT]?")


@dataclass(frozen=True)
class ExecutorSettings:
    """Where runs go: the local Docker engine, or one Slurm job per run.

    For Slurm, what each job asks for; "" or 0 leaves it to the cluster's defaults, and
    everything else (accounts, QOS, nodes) comes from Slurm's own configuration.
    """

    kind: str = "local"
    partition: str = ""
    time: str = ""
    cpus: int = 0
    memory: str = ""

    def check(self) -> ExecutorSettings:
        """Self, or one line naming the first impossible value; see `SLURM_TIME`."""
        name = "[tool.lockstep.executor]"
        problem = ""
        if self.kind not in EXECUTORS:
            problem = f"kind: expected one of {', '.join(EXECUTORS)}, got {self.kind!r}"
        elif self.time and not SLURM_TIME.fullmatch(self.time):
            problem = f"time: expected a Slurm time limit (90, 2:00:00, 1-12), got {self.time!r}"
        elif isinstance(self.cpus, bool) or self.cpus < 0:
            problem = f"cpus: expected a number of CPUs per job, got {self.cpus!r}"
        elif self.memory and not SLURM_MEMORY.fullmatch(self.memory):
            problem = f"memory: expected a Slurm size such as 16G or 4000M, got {self.memory!r}"
        elif self.kind == "local" and (self.partition or self.time or self.cpus or self.memory):
            # Settings that would do nothing: most likely `kind = "slurm"` was forgotten.
            problem = 'partition, time, cpus and memory apply to kind = "slurm" only'
        if problem:
            raise ConfigError(f"{name} {problem}", "fix the value in pyproject.toml")
        return self


@dataclass(frozen=True)
class Settings:
    """Everything the kit reads from [tool.lockstep], resolved against the project root."""

    root: Path
    image: str = ""
    dockerfile: str = "docker/Dockerfile"
    docker: str = ""
    ca_bundle: str = ""
    registry: str = ""
    # The module whose check(path) validates params.yaml before a run; "" for the kit's own.
    params: str = ""
    workdir: str = "/workspace"
    # The paths `invoke lint` and `invoke format` give ruff; an adopted project opts in to each.
    lint: tuple[str, ...] = (".",)
    # The private key runs are signed with (`invoke keygen`), outside the project; "" for none.
    signing_key: str = ""
    base: BaseSettings = BaseSettings()
    refresh: RefreshSettings = RefreshSettings()
    executor: ExecutorSettings = ExecutorSettings()
    validation: ValidationSettings = ValidationSettings()

    def path(self, relative: str) -> Path:
        """A project-relative path made absolute."""
        return self.root / relative

    def ca_bundle_path(self) -> Path | None:
        """The CA bundle builds and runs need: the setting, else `ca_bundle()`'s."""
        return ca_bundle(str(self.path(self.ca_bundle)) if self.ca_bundle else "")

    def docker_cli(self) -> str:
        """The docker CLI the user chose: LOCKSTEP_DOCKER, else the setting, else none."""
        return os.environ.get("LOCKSTEP_DOCKER") or self.docker

    def signing_key_file(self) -> str:
        """The private key runs are signed with: LOCKSTEP_SIGNING_KEY, else the setting."""
        return os.environ.get(SIGNING_KEY_VARIABLE) or self.signing_key


def ca_bundle(setting: str = "") -> Path | None:
    """The first CA bundle that exists: the setting, the usual variables, the system's."""
    candidates = [setting, *map(os.environ.get, CA_VARIABLES), *SYSTEM_CA_BUNDLES]
    return next((Path(path) for path in candidates if path and Path(path).is_file()), None)


def refresh_configured(root: Path) -> bool:
    """True unless pyproject.toml is readable and has no [tool.lockstep.refresh] table.

    An unreadable file counts as configured: the task is offered, and says what is wrong.
    """
    try:
        data = tomllib.loads((root / "pyproject.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return True
    return "refresh" in data.get("tool", {}).get("lockstep", {})


def load(root: Path) -> Settings:
    """Read [tool.lockstep] from the project's pyproject.toml."""
    pyproject = root / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{pyproject}: not found", "run from the project root") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject}: {exc}", "fix the TOML syntax") from None
    table = _table(data.get("tool", {}).get("lockstep", {}), "tool.lockstep")
    base = _section(BaseSettings, table.pop("base", {}), "tool.lockstep.base")
    refresh = _section(RefreshSettings, table.pop("refresh", {}), "tool.lockstep.refresh")
    executor = _section(ExecutorSettings, table.pop("executor", {}), "tool.lockstep.executor")
    validation = _section(
        ValidationSettings, table.pop("validation", {}), "tool.lockstep.validation"
    )
    settings = _build(
        Settings,
        {"image": "", **table},
        "tool.lockstep",
        root=root,
        base=base,
        refresh=refresh,
        executor=executor.check(),
        validation=validation.check(),
    )
    if not settings.image:
        raise ConfigError(
            "[tool.lockstep] image: missing", 'set image = "<name>" in pyproject.toml'
        )
    if base.snapshot and not any("{snapshot}" in entry for entry in base.snapshot_mirrors):
        raise ConfigError(
            f"[tool.lockstep.base] snapshot = {base.snapshot!r} but no snapshot_mirrors "
            "entry has {snapshot} in it",
            'add snapshot_mirrors = ["<your snapshot service>/archive/debian/{snapshot}"]',
        )
    if base.image and "@sha256:" not in base.image and not base.allow_unpinned:
        raise ConfigError(
            f"[tool.lockstep.base] image = {base.image!r} is not pinned by digest",
            "pin it as name@sha256:<digest>, or set allow_unpinned = true to accept drift",
        )
    return settings


def _table(value: Any, name: str) -> dict[str, Any]:
    """A settings table, or one line saying it is not one."""
    if not isinstance(value, dict):
        raise ConfigError(
            f"[{name}] is {value!r}, not a table of settings",
            f"write it as a [{name}] section in pyproject.toml",
        )
    return dict(value)


def _section(kind: type, value: Any, name: str) -> Any:
    """A settings dataclass from a sub-table."""
    return _build(kind, _table(value, name), name)


def _build(kind: type, values: dict[str, Any], table: str, **fixed: Any) -> Any:
    """Construct a settings dataclass, refusing unknown keys and wrong types."""
    defaults = kind.__dataclass_fields__
    for key, value in values.items():
        if key not in defaults or key in fixed:
            known = ", ".join(k for k in defaults if k not in fixed)
            raise ConfigError(f"[{table}] {key}: unknown setting", f"known settings: {known}")
        default = defaults[key].default
        expected = type(default) if not isinstance(default, tuple) else list
        if default is not None and not isinstance(value, expected):
            raise ConfigError(
                f"[{table}] {key}: expected {expected.__name__}, got {value!r}",
                "fix the value in pyproject.toml",
            )
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return kind(**values, **fixed)
