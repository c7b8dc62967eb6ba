"""Benchmarks: the kit next to two Poetry-in-Docker recipes, and next to running natively.

The recipes are the naive one (benchmarks/naive.Dockerfile) and the multi-stage uv one the
guides recommend (benchmarks/uv.Dockerfile).

`invoke bench` measures every figure side by side in one run, prints a table and writes
benchmarks/results.json: each figure with its raw timings, its value (a ratio or seconds), its
goal and whether it was met. `invoke bench --quick` runs a small version.

Everything that edits files (a source change, the extract's size) happens in a committed
temporary copy of the project. Every image the run makes is removed at the end, and so are the
download cache mounts of the cold builds; the project's own image for the current sources is kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import random
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from lockstep import config, engines, lockfile, paths, shell, toolchain, tools
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import CommandError, LockstepError, SlurmError
from lockstep.files import atomic_write
from lockstep.history import rerun
from lockstep.images import builder, debs, packages, reproducible, store
from lockstep.run import executor, pipeline
from lockstep.tools import poetry_specs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results.json"
# The baselines' recipes, by name; each builds as the image lockstep-bench-NAME:<random tag>.
BASELINES = {"naive": "benchmarks/naive.Dockerfile", "uv": "benchmarks/uv.Dockerfile"}
BASELINE_IMAGE = "lockstep-bench-{}"
# The host's Poetry, which `invoke build` uses to check the lock before building.
SHARED_TOOLS = (".lockstep/poetry",)
# 2: the uv baseline (cold_build_uv); a figure without a goal has goal and met null.
SCHEMA_VERSION = 2
# The host's tools: the venv this runs in (invoke, dvc, python).
BIN = Path(sys.executable).parent
# What `benchmarks/fresh-machine REPOSITORY RESULT` last measured, committed with the results.
FRESH_MACHINE = HERE / "fresh-machine.json"
GIT = ["git", "-c", "safe.directory=*", "-c", "user.name=lockstep bench"]
GIT += ["-c", "user.email=bench@lockstep.invalid"]
# Checks that a stage ran: DVC 3 announces every stage it runs with this line.
RUNNING = re.compile(r"^Running stage '", re.MULTILINE)
# The two places a pipeline runs, in the kit's container and natively on the host.
SIDES = ("container", "native")
# The kit echoes every command it runs; this is how a build shows.
BUILD = re.compile(r"^\$ \S*docker build ")
# The layers a lock bump rewrites: the exported requirements and their install (docker/Dockerfile).
# The distribution the lock-bump figure pins to its previous release: small, and in the main
# group (the runtime image's).
BUMPED = "tqdm"
# The tags the Slurm rerun figure reruns, each on an empty commit of its own over one result
# (RERUN_TAG.format(number)): `rerun` reruns a commit once, however many tags name it.
RERUN_TAG = "bench/rerun-{}"
# Slurm's daemons, which the private cluster of tests.support.slurm runs.
SLURM_DAEMONS = ("munged", "slurmctld", "slurmd")
# Runs a command and writes its wall time and peak resident memory as JSON.
PEAK = HERE / "peak.py"
MB = 1_000_000
# The scale figure's project: one stage that reads the raw input through and writes its digest,
# so the big file is every step's input (DVC hashes, pushes, fetches and checks it out), and the
# disk holds the input and its copies only. The environment's fingerprint, as every stage's.
SCALE_RAW = "data/raw.bin"
SCALE_DIGEST = "outputs/raw.sha256"
SCALE_SCRIPT = "stages/digest.py"
SCALE_STAGE = """\
import hashlib, os, sys
os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
with open(sys.argv[1], "rb") as raw:
    digest = hashlib.file_digest(raw, "sha256").hexdigest()
with open(sys.argv[2], "w") as out:
    out.write(digest + "\\n")
"""
SCALE_PIPELINE = {
    "stages": {
        "digest": {
            "cmd": f"python {SCALE_SCRIPT} {SCALE_RAW} {SCALE_DIGEST}",
            "deps": [SCALE_SCRIPT, SCALE_RAW],
            "params": [{"environment.yaml": ["fingerprint"]}],
            "outs": [SCALE_DIGEST],
        }
    }
}
# The scale figure's steps, in order: DVC's own `dvc add`, then the kit's tasks, whose peak
# memory must not grow with the input.
SCALE_STEPS = ("dvc add", "repro", "publish", "pull", "rerun")
KIT_STEPS = SCALE_STEPS[1:]
# The installed packages' size inside an image: every file in the interpreter's site-packages
# (bytecode included; RECORD files may not list it), with the bytecode's share.
PACKAGES = """\
import json, os, sysconfig
root, total, bytecode = sysconfig.get_paths()["purelib"], 0, 0
for folder, _, files in os.walk(root):
    for name in files:
        size = os.lstat(os.path.join(folder, name)).st_size
        total += size
        bytecode += size if name.endswith(".pyc") else 0
print(json.dumps({"path": root, "bytes": total, "bytecode_bytes": bytecode}))
"""
# The distributions an image's Python sees, as normalized name==version lines.
DISTRIBUTIONS = """\
import importlib.metadata as metadata, json, re
found = {
    re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() + "==" + d.version
    for d in metadata.distributions()
}
print(json.dumps(sorted(found)))
"""


@dataclass(frozen=True)
class Plan:
    """How much to measure.

    Attributes:
        name: how the plan is called in the results (full, quick, ...).
        repeats: runs of the cheap figures (no-op build, no-op repro).
        build_repeats: cold builds of each image, and timed source-only rebuilds.
        pipeline_repeats: full pipeline runs per size and place (container, native).
        profile_repeats: runs of each stage per size for the stage profile.
        rows_per_month: the 1x extract; 0 means the value in params.yaml.
        sizes: multiples of the 1x extract for the full pipeline figure.
        profile_sizes: multiples of the 1x extract for the stage profile.
        cold: build with --no-cache and an empty pip cache; False reuses caches (tests).
        versions: source-only versions published to a DVC remote for the storage figure.
        rerun_tags: tags rerun here one after another, then as Slurm jobs all at once, for the
            Slurm rerun figure; 0 leaves the figure out.
        scale_bytes: sizes of the raw input for the scale figure, smallest first (its goal
            compares the largest with the smallest); () leaves the figure out.
    """

    name: str = "full"
    repeats: int = 5
    build_repeats: int = 3
    pipeline_repeats: int = 5
    profile_repeats: int = 1
    rows_per_month: int = 0
    sizes: tuple[int, ...] = (1, 10)
    profile_sizes: tuple[int, ...] = (1, 10, 30)
    cold: bool = True
    versions: int = 10
    # A second build from empty caches, to compare image ids (minutes).
    reproducible: bool = True
    rerun_tags: int = 0
    scale_bytes: tuple[int, ...] = (200 * MB, 2000 * MB)


FULL = Plan(rerun_tags=3)
QUICK = Plan(
    name="quick",
    repeats=3,
    build_repeats=1,
    pipeline_repeats=1,
    rows_per_month=200,
    versions=3,
    rerun_tags=3,
    scale_bytes=(20 * MB, 200 * MB),
)
COMMANDS = {"full": "./inv bench", "quick": "./inv bench --quick"}


@dataclass(frozen=True)
class Figure:
    """One measured figure and its goal: met when value <= goal and every check holds.

    A figure without a goal (None) is information only: its `met` is None, or False when a check
    fails. A figure that could not be measured here has no value (None; its summary says why),
    and its `met` is None.
    """

    key: str
    title: str
    value: float | None
    unit: str
    goal: float | None
    summary: str
    raw: dict[str, Any]
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        """True when the goal is reached and every check holds; None when there is no goal."""
        checked = all(self.checks.values())
        if self.value is None:  # not measured
            return None
        if self.goal is None:
            return None if checked else False
        return self.value <= self.goal and checked

    def as_json(self) -> dict[str, Any]:
        """The figure as results.json stores it."""
        return {**asdict(self), "met": self.met}


@dataclass(frozen=True)
class RecordingEngine(Engine):
    """The kit's engine, adding arguments to the kit's image builds and keeping their logs."""

    build_args: tuple[str, ...] = ()
    logs: list[str] = field(default_factory=list, compare=False, hash=False)

    def run(self, *args: str, **kwargs: Any):
        """Run `docker ARGS`; the kit's main build gets the extra arguments and is recorded."""
        if not main_build(args):
            return super().run(*args, **kwargs)
        kwargs.pop("tee", None)
        # Options go anywhere after the subcommand: right after it, whatever the kit's order.
        proc = super().run(args[0], *self.build_args, *args[1:], capture=True, **kwargs)
        self.logs.append(proc.stdout + proc.stderr)
        return proc


def main_build(args: tuple[str, ...]) -> bool:
    """Whether `docker ARGS` is the kit's main image build: `build`, its log in plain text.

    Read by meaning, not by position: the subcommand, then the --progress option wherever it is
    and however it is spelled (`--progress=plain`, `--progress plain`). The kit's other builds,
    of small images from a Dockerfile on standard input, are --quiet.
    """
    if not args or args[0] != "build":
        return False
    for option, value in zip(args, [*args[1:], ""], strict=True):
        if option.startswith("--progress="):
            return option.partition("=")[2] == "plain"
        if option == "--progress":
            return value == "plain"
    return False


class Project:
    """A committed temporary copy of a project, which the benchmarks may edit."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def copy_of(cls, source: Path, dest: Path, *, image: str = "") -> Project:
        """Copy the tracked and the untracked, not ignored files of `source`; commit them.

        The copy's image is named `image`, else a name of its own.
        """
        listed = shell.output(
            [*GIT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=source
        )
        for relative in sorted({name for name in listed.split("\0") if name}):
            origin, target = source / relative, dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_symlink():
                target.symlink_to(os.readlink(origin))
            elif origin.is_file():  # not deleted in the working tree
                shutil.copy2(origin, target)
        for tool in SHARED_TOOLS:  # ignored by git, yet used by the kit as in the source
            if (source / tool).exists():
                (dest / tool).parent.mkdir(parents=True, exist_ok=True)
                (dest / tool).symlink_to(source / tool)
        # Tags of its own: the images are the project's (one image id for the same locks), and
        # the benchmark removes what it tagged while other work may use the project's tags.
        pyproject = dest / "pyproject.toml"
        own = f'image = "{image or f"lockstep-bench-{secrets.token_hex(4)}"}"'
        pyproject.write_text(re.sub(r'(?m)^image = "[^"@]*"$', own, pyproject.read_text(), count=1))
        project = cls(dest)
        project.git("init", "--quiet")
        project.git("add", "--all")
        project.git("commit", "--quiet", "--no-verify", "-m", "benchmark copy")
        return project

    def git(self, *args: str) -> str:
        """Run git in the copy and return its output."""
        return shell.output([*GIT, *args], cwd=self.root)

    def settings(self) -> Settings:
        """The copy's kit settings."""
        return config.load(self.root)

    def change_source(self) -> str:
        """Make a harmless source change, unique to this call; return its token."""
        token = secrets.token_hex(6)
        path = self.root / "src" / "credit_model" / "__init__.py"
        path.write_text(path.read_text() + f"# benchmark build {token}\n")
        return token

    def change_environment(self, token: str) -> None:
        """Give the environment new inputs (a comment in pyproject.toml), unique to `token`."""
        with (self.root / "pyproject.toml").open("a") as pyproject:
            pyproject.write(f"# benchmark environment {token}\n")

    def restore_source(self) -> None:
        """Undo source and environment changes."""
        self.git("checkout", "--quiet", "--", "src", "pyproject.toml")

    def bump(self, name: str) -> str:
        """Re-lock with `name` pinned to the release before the locked one; 'name old -> new'."""
        locked = self.locked_version(name)
        listed = shell.output([BIN / "python", "-m", "pip", "index", "versions", name])
        versions = listed.split("Available versions:", 1)[1].replace(",", " ").split()
        older = versions[versions.index(locked) + 1]
        path = self.root / "pyproject.toml"
        text = path.read_text()
        path.write_text(
            text.replace("dependencies = [\n", f'dependencies = [\n    "{name} (=={older})",\n', 1)
        )
        lockfile.lock(tools.ensure_poetry(self.root), self.root)
        self.git("commit", "--quiet", "--all", "-m", f"bench: {name} {older}")
        return f"{name} {locked} -> {older}"

    def locked_version(self, name: str) -> str:
        """The version poetry.lock holds for `name`."""
        lock = tomllib.loads((self.root / "poetry.lock").read_text())
        return next(p["version"] for p in lock["package"] if p["name"] == name)

    def params(self) -> dict:
        """The copy's params.yaml."""
        return yaml.safe_load((self.root / "params.yaml").read_text())

    def set_rows(self, rows_per_month: int) -> None:
        """Set ingest.rows_per_month, keeping the file's comments."""
        path = self.root / "params.yaml"
        text, count = re.subn(
            r"(?m)^(\s*rows_per_month:\s*)\d+", rf"\g<1>{rows_per_month}", path.read_text()
        )
        if count != 1:
            raise LockstepError(f"{path}: no ingest.rows_per_month", "the benchmarks set it")
        path.write_text(text)

    def rows(self, rows_per_month: int) -> int:
        """Rows in the extract for a monthly volume (every month from first_month to as_of)."""
        ingest = self.params()["ingest"]
        first, last = (tuple(map(int, ingest[key].split("-"))) for key in ("first_month", "as_of"))
        return rows_per_month * ((last[0] - first[0]) * 12 + last[1] - first[1] + 1)

    def stages(self) -> dict[str, list[str]]:
        """Each DVC stage's command, in pipeline order."""
        stages = yaml.safe_load((self.root / "dvc.yaml").read_text())["stages"]
        return {name: shlex.split(stage["cmd"]) for name, stage in stages.items()}

    def out_hashes(self) -> dict[str, str]:
        """Every stage output's md5 in dvc.lock."""
        lock = yaml.safe_load((self.root / "dvc.lock").read_text())
        return {out["path"]: out["md5"] for s in lock["stages"].values() for out in s["outs"]}

    def env(self) -> dict[str, str]:
        """Environment for the host's tools on the copy: the venv first, the copy's code."""
        return {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(self.root / "src"),
            "DVC_NO_ANALYTICS": "1",
            # Every command on stderr too: a build shows by its `docker build` (BUILD).
            shell.VERBOSE_VARIABLE: "1",
            # Native DVC keeps its hash cache in the copy too, as the container's DVC does.
            "DVC_SITE_CACHE_DIR": str(self.root / paths.STATE / "host-site-cache"),
        }


class Bench:
    """One benchmark run on a project copy: the figures, and the images it has to remove."""

    def __init__(self, plan: Plan, engine: Engine, project: Project, log: Callable) -> None:
        self.plan = plan
        self.engine = engine
        self.project = project
        self.log = log
        settings = project.settings()
        self.base_ref = builder.resolve_base(settings, engine).ref
        self.base_rows = plan.rows_per_month or int(project.params()["ingest"]["rows_per_month"])
        self.made: list[str] = []  # image references to remove at the end
        self.baseline_tags: dict[str, str] = {}  # the latest image of each baseline
        self.cold_ours: list[float] = []

    # builds -----------------------------------------------------------------------------

    def cold_build(self) -> list[Figure]:
        """Figure 1: a cold build of our image next to each baseline's, the three interleaved.

        Every round builds all three, each round starting one later in the order, so that each
        side sees the same load. Our timings serve both figures.
        """
        sides = [*BASELINES, "ours"]
        seconds: dict[str, list[float]] = {side: [] for side in sides}
        ours_tag = ""
        with cold_cache_mounts(self.engine, enabled=self.plan.cold):
            for number in range(self.plan.build_repeats):
                shift = number % len(sides)
                for side in sides[shift:] + sides[:shift]:
                    self.log(f"cold builds {number + 1}/{self.plan.build_repeats}: {side}")
                    if side == "ours":
                        seconds[side].append(self.build_ours(cold=self.plan.cold)[0])
                        ours_tag = self.made[-1]
                    else:
                        seconds[side].append(self.build_baseline(side))
        self.cold_ours = ours = seconds["ours"]
        naive, uv = seconds["naive"], seconds["uv"]
        ours_dists, uv_dists = (
            self.distributions(ref) for ref in (ours_tag, self.baseline_tags["uv"])
        )
        return [
            Figure(
                "cold_build",
                "cold build: ours / naive baseline",
                _median(ours) / _median(naive),
                "ratio",
                1.0,
                f"ours {_median(ours):.1f} s, naive {_median(naive):.1f} s",
                {"ours_s": ours, "baseline_s": naive, "cold": self.plan.cold},
            ),
            Figure(
                "cold_build_uv",
                "cold build: ours / uv baseline",
                _median(ours) / _median(uv),
                "ratio",
                1.0,
                f"ours {_median(ours):.1f} s, uv {_median(uv):.1f} s "
                f"({len(uv_dists)} distributions each)",
                {
                    "ours_s": ours,
                    "baseline_s": uv,
                    "cold": self.plan.cold,
                    "distributions": len(ours_dists),
                    "only_in_ours": sorted(set(ours_dists) - set(uv_dists)),
                    "only_in_baseline": sorted(set(uv_dists) - set(ours_dists)),
                },
                {"same distributions as ours": ours_dists == uv_dists},
            ),
        ]

    def source_rebuild(self) -> Figure:
        """Figure 2: a rebuild after a source-only change, next to our cold build."""
        self.log("source-only rebuilds (one untimed, to warm the layer cache)")
        self.build_ours(cold=False)
        seconds, reused = [], []
        for _ in range(self.plan.build_repeats):
            elapsed, image = self.build_ours(cold=False)
            seconds.append(elapsed)
            reused.append(not image.installed)
        cold = _median(self.cold_ours)
        return Figure(
            "source_rebuild",
            "rebuild after a source-only change / our cold build",
            _median(seconds) / cold,
            "ratio",
            0.03,
            f"rebuild {_median(seconds):.1f} s, cold {cold:.1f} s",
            {"rebuild_s": seconds, "cold_s": self.cold_ours},
            {"no distribution installed again": all(reused)},
        )

    def build_ours(self, *, cold: bool) -> tuple[float, builder.Image]:
        """Time the kit's build of the copy after a unique source change; return it and the image.

        Cold: the environment too is assembled from nothing (a comment in pyproject.toml changes
        its key), its Dockerfile stages built without BuildKit's cache and with a fresh pip
        cache mount, its distributions installed into an empty tree cache from an empty uv
        cache volume.
        """
        token = self.project.change_source()
        extra = ("--no-cache", "--build-arg", f"PIP_CACHE_ID=lockstep-bench-{token}")
        engine = RecordingEngine(self.engine.cli, build_args=extra if cold else ())
        with contextlib.ExitStack() as cold_caches:
            if cold:
                self.project.change_environment(token)
                cold_caches.enter_context(empty_caches(self.engine, token))
            try:
                seconds, image = _timed(builder.build, self.project.settings(), engine)
            finally:
                self.project.restore_source()
        if cold and image.tag in self.made:
            raise LockstepError("the kit reused an image instead of building", "report this bug")
        # A source change alone builds nothing: the image is the environment, its tag the same.
        if image.tag not in self.made:
            self.made.append(image.tag)
        return seconds, image

    def build_baseline(self, name: str) -> float:
        """Time a build of one baseline (a key of BASELINES) from the pristine copy."""
        tag = f"{BASELINE_IMAGE.format(name)}:{secrets.token_hex(6)}"
        settings = self.project.settings()
        args = ["build", "--progress=plain", "-f", str(self.project.root / BASELINES[name])]
        args += ["--build-arg", f"BASE_IMAGE={self.base_ref}", "-t", tag]
        if name == "naive":
            args += ["--build-arg", f"POETRY_SPEC={poetry_specs(self.project.root)[0]}"]
            args += ["--build-arg", f"SIMPLE_INDEX={simple_index()}"]
        elif self.plan.cold:  # uv's cache mount, fresh and empty, as our build's PIP_CACHE_ID
            args += ["--build-arg", f"CACHE_ID=lockstep-bench-uv-{secrets.token_hex(6)}"]
        args += ["--no-cache"] if self.plan.cold else []
        ca = settings.ca_bundle_path()
        args += ["--secret", f"id=ca,src={ca}"] if ca else []
        seconds, _ = _timed(_captured, self.engine, *args, str(self.project.root))
        self.made.append(tag)
        self.baseline_tags[name] = tag
        return seconds

    def distributions(self, ref: str) -> list[str]:
        """The distributions (name==version) an image's Python sees."""
        return json.loads(
            self.engine.output(
                "run", "--rm", "--network", "none", ref, "python", "-c", DISTRIBUTIONS
            )
        )

    def image_size(self, image: builder.Image) -> list[Figure]:
        """Figure 6: our runtime image next to the naive baseline's, and next to the floor."""
        self.check_baselines()
        ours, base = self.size(image.id), self.size(self.base_ref)
        naive, uv = (self.size(self.baseline_tags[name]) for name in ("naive", "uv"))
        packages = json.loads(
            self.engine.output(
                "run", "--rm", "--network", "none", image.id, "python", "-c", PACKAGES
            )
        )
        floor = base + packages["bytes"]
        sizes = {"ours_bytes": ours, "baseline_bytes": naive, "base_bytes": base}
        return [
            Figure(
                "size_vs_baseline",
                "runtime image size: ours / naive baseline",
                ours / naive,
                "ratio",
                # No goal: the naive image is the floor plus Poetry and its cache, and no image
                # holding these packages can be smaller than the floor.
                None,
                f"ours {ours / 1e6:.0f} MB, naive {naive / 1e6:.0f} MB, uv {uv / 1e6:.0f} MB "
                f"(floor / naive {floor / naive:.2f})",
                {
                    **sizes,
                    "uv_baseline_bytes": uv,
                    "floor_bytes": floor,
                    "floor_ratio": floor / naive,
                },
            ),
            Figure(
                "size_vs_floor",
                "runtime image size: ours / (base image + installed packages)",
                ours / floor,
                "ratio",
                1.15,
                f"ours {ours / 1e6:.0f} MB, floor {floor / 1e6:.0f} MB "
                f"(base {base / 1e6:.0f} + packages {packages['bytes'] / 1e6:.0f})",
                {
                    **sizes,
                    "packages_bytes": packages["bytes"],
                    "packages_bytecode_bytes": packages["bytecode_bytes"],
                    "floor_bytes": floor,
                },
            ),
        ]

    def check_baselines(self) -> None:
        """A baseline that cannot run the pipeline would make every comparison meaningless."""
        imports = "import credit_model.stages.train, credit_model.stages.evaluate, dvc.repo"
        for name, tag in self.baseline_tags.items():
            run = ("run", "--rm", "--network", "none", tag, "python", "-c", imports)
            proc = self.engine.run(*run, capture=True, check=False)
            if proc.returncode:
                raise LockstepError(
                    f"the {name} baseline image cannot import the pipeline: {proc.stderr.strip()}",
                    f"fix {BASELINES[name]}",
                )

    def size(self, ref: str) -> int:
        """An image's size in bytes, as the engine reports it."""
        return int(self.engine.output("image", "inspect", "--format", "{{.Size}}", ref))

    # the pipeline -----------------------------------------------------------------------

    def warm_image(self) -> builder.Image:
        """Build (or reuse) the image of the pristine copy and record its fingerprint."""
        self.log("the image of the current sources (reused when it exists)")
        _, image = pipeline.build(self.project.settings())
        return image

    def noop_build(self) -> Figure:
        """Figure 3: `./inv build` when nothing changed since the last build, as a user types it.

        The copy's .venv stands for one installed from the same lock (the stamp toolchain.py
        checks, and this environment's invoke): only the task is timed. The interpreter is named
        directly (LOCKSTEP_PYTHON), as on a machine without a version manager's shim.
        """
        self.invoke("build")  # untimed: the last build's record
        venv = self.project.root / ".venv"
        (venv / "bin").mkdir(parents=True, exist_ok=True)
        (venv / "bin" / "invoke").unlink(missing_ok=True)
        (venv / "bin" / "invoke").symlink_to(BIN / "invoke")
        (venv / toolchain.STAMP).write_text(toolchain.inputs_digest(self.project.root))
        command = [self.project.root / "inv", "build"]
        env = {**self.project.env(), "LOCKSTEP_PYTHON": sys.executable}
        seconds, started, answered = [], [], []
        try:
            for _ in range(self.plan.repeats):
                elapsed, proc = _timed(_captured, None, *command, env=env, cwd=self.project.root)
                seconds.append(elapsed)
                started.append(any(BUILD.match(line) for line in proc.stderr.splitlines()))
                answered.append("as the last build recorded" in proc.stderr)
        finally:
            shutil.rmtree(venv)  # a lock bump later must not find it
        return Figure(
            "noop_build",
            "`./inv build`, nothing changed since the last build (s)",
            _median(seconds),
            "s",
            0.15,
            f"median {_median(seconds):.3f} s",
            {"runs_s": seconds},
            {"no build started": not any(started), "answered from the record": all(answered)},
        )

    def noop_repro(self) -> Figure:
        """Figure 4: a no-op `invoke repro` next to a no-op native `dvc repro`."""
        self.project.set_rows(self.base_rows)
        self.log("no-op repro: bringing the pipeline up to date (untimed)")
        self.invoke("repro")
        self.native("repro")
        runs = self.alternate(self.plan.repeats, ("repro",))
        container, native = ([seconds for seconds, _ in runs[side]] for side in SIDES)
        ran = [RUNNING.search(out) for side in SIDES for _, out in runs[side]]
        overhead = _median(container) - _median(native)
        return Figure(
            "noop_repro",
            "no-op `invoke repro` - no-op native `dvc repro` (s)",
            overhead,
            "s",
            0.35,
            f"container {_median(container):.2f} s, native {_median(native):.2f} s",
            {"container_s": container, "native_s": native},
            {"nothing ran": not any(ran)},
        )

    def full_pipeline(self, size: int) -> Figure:
        """Figure 5: the whole pipeline in the container next to natively, at one size."""
        rows_per_month = self.base_rows * size
        self.project.set_rows(rows_per_month)
        self.log(f"full pipeline at {size}x, {self.plan.pipeline_repeats} runs each")
        runs = self.alternate(self.plan.pipeline_repeats, ("repro", "--force"), outputs=True)
        container, native = ([seconds for seconds, _ in runs[side]] for side in SIDES)
        same = [a == b for (_, a), (_, b) in zip(*(runs[side] for side in SIDES), strict=True)]
        return Figure(
            f"pipeline_{size}x",
            f"full pipeline at {size}x rows: container / native",
            _median(container) / _median(native),
            "ratio",
            1.10,
            f"{self.project.rows(rows_per_month):,} rows: container {_median(container):.1f} s, "
            f"native {_median(native):.1f} s",
            {
                "rows_per_month": rows_per_month,
                "rows": self.project.rows(rows_per_month),
                "container_s": container,
                "native_s": native,
            },
            {"identical outputs": all(same)},
        )

    def alternate(self, repeats: int, args: tuple[str, ...], *, outputs: bool = False):
        """Run `invoke ARGS` and `dvc ARGS` in turns, each side first every other time.

        Returns:
            For each side, (seconds, output) per run; with `outputs`, the outputs' md5s instead.
        """
        sides = {"container": self.invoke, "native": self.native}
        runs: dict[str, list[tuple[float, Any]]] = {side: [] for side in sides}
        for number in range(repeats):
            for side in sorted(sides, reverse=bool(number % 2)):
                seconds, proc = _timed(sides[side], *args)
                result = self.project.out_hashes() if outputs else proc.stdout + proc.stderr
                runs[side].append((seconds, result))
        return runs

    def profile(self, size: int) -> dict[str, Any]:
        """Figure 7: each stage's time and peak memory, natively, at one size."""
        rows_per_month = self.base_rows * size
        self.project.set_rows(rows_per_month)
        self.log(f"stage profile at {size}x")
        stages: dict[str, dict[str, Any]] = {}
        for _ in range(self.plan.profile_repeats):
            for name, cmd in self.project.stages().items():
                run = self.measure(cmd)
                entry = stages.setdefault(name, {"seconds": [], "peak_mib": []})
                entry["seconds"].append(run["seconds"])
                entry["peak_mib"].append(run["peak_kib"] / 1024)
        for entry in stages.values():
            entry["median_s"] = _median(entry["seconds"])
            entry["peak_mib_max"] = max(entry["peak_mib"])
        return {
            "rows_per_month": rows_per_month,
            "rows": self.project.rows(rows_per_month),
            "stages": stages,
        }

    def measure(self, cmd: list[Any], project: Project | None = None) -> dict[str, Any]:
        """Run a command natively in a project (the copy); its wall time and peak memory.

        The peak is the largest resident set of the command and its descendants (`peak.py`):
        a container's processes are the engine's, never counted.
        """
        project = project or self.project
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            _captured(
                None,
                sys.executable,
                PEAK,
                out.name,
                *cmd,
                cwd=project.root,
                env=project.env(),
            )
            return json.loads(Path(out.name).read_text())

    def invoke(self, *args: str, project: Project | None = None):
        """The kit's CLI on a project (the copy), as a user runs it."""
        project = project or self.project
        return _captured(None, *invoked(project, *args), env=project.env())

    def native(self, *args: str, project: Project | None = None):
        """The host's DVC on a project (the copy)."""
        project = project or self.project
        return _captured(None, BIN / "dvc", *args, cwd=project.root, env=project.env())

    # cleanup ----------------------------------------------------------------------------

    # the DVC remote ------------------------------------------------------------------------

    def remote_storage(self) -> list[Figure]:
        """Figures: what published versions cost in a DVC remote, as layouts; a lock bump.

        Ten versions that differ in source only, then one that differs by a one-distribution
        lock bump (BUMPED, pinned to its previous release and re-locked through the package
        index): its rebuild is timed against our cold build, and what publishing it adds to
        the remote is what any registry or pull would move.
        """
        ids = []
        for number in range(self.plan.versions):
            self.log(f"remote storage: version {number + 1}/{self.plan.versions} (a source change)")
            self.build_ours(cold=False)
            ids.append(self.engine.image_id(self.made[-1]))
        self.log(f"lock bump: {BUMPED} pinned to its previous release, re-locked")
        bump = self.project.bump(BUMPED)
        rebuild_s, bumped = self.build_ours(cold=False)
        with tempfile.TemporaryDirectory(prefix="lockstep-bench-remote-", dir="/var/tmp") as tmp:
            repo, remote = Path(tmp) / "repo", Path(tmp) / "remote"
            repo.mkdir()
            shell.run([*GIT, "init", "--quiet"], cwd=repo, quiet=True)
            shell.run([BIN / "dvc", "init", "--quiet"], cwd=repo, quiet=True)
            shell.run([BIN / "dvc", "remote", "add", "-d", "bench", remote], cwd=repo, quiet=True)
            published, tracked = [], []
            for image_id in [*ids, bumped.id]:
                tracked.append(store.save(repo, self.engine, image_id))
                store.push(repo, tracked[-1:])
                published.append(_tree_bytes(remote))
            # One docker save of the image: its layout's bytes, which its .dvc file records (a
            # layout of its own would be one more save of the whole image).
            image_bytes = yaml.safe_load(tracked[0].read_text())["outs"][0]["size"]
        one, total = published[0], published[-2]
        added = published[-1] - published[-2]
        versions = len(ids)
        cold = _median(self.cold_ours)
        return [
            Figure(
                "remote_storage",
                f"DVC remote: {versions} source-only versions / one version",
                total / one,
                "ratio",
                1.1,
                f"{versions} versions {total / 1e6:.0f} MB, one {one / 1e6:.0f} MB "
                f"(one docker save each: {versions * image_bytes / 1e6:.0f} MB)",
                {"remote_bytes_after_each": published[:-1], "image_bytes": image_bytes},
            ),
            Figure(
                "remote_lock_bump",
                "one-distribution lock bump: bytes of new layers / image",
                added / one,
                "ratio",
                0.10,
                f"{bump}: {added / 1e6:.1f} MB added to the remote, one version {one / 1e6:.0f} MB",
                {"bump": bump, "added_bytes": added, "one_version_bytes": one},
                # None at all when an earlier run left the bumped release in the tree cache.
                {
                    "no other distribution installed": all(
                        name.split()[0] == BUMPED for name in bumped.installed
                    )
                },
            ),
            Figure(
                "bump_rebuild",
                "rebuild after a one-distribution lock bump / our cold build",
                rebuild_s / cold,
                "ratio",
                0.15,
                f"{bump}: rebuild {rebuild_s:.1f} s, cold {cold:.1f} s",
                {"bump": bump, "rebuild_s": rebuild_s, "cold_s": self.cold_ours},
            ),
        ]

    def reproducible(self) -> Figure:
        """Figure: two builds of the same inputs, the second from empty caches, give one id."""
        self.log("reproducibility: a second build from empty caches (BuildKit, uv, trees)")
        settings = self.project.settings()
        image = builder.build(settings, self.engine)
        with reproducible.from_empty_caches(settings, self.engine, image) as second:
            same = second == image.id
        return Figure(
            "reproducible_build",
            "two clean builds give the same image id (1 = yes)",
            1.0 if same else 0.0,
            "yes/no",
            None,
            f"{image.id[:19]} and {second[:19]}: {'identical' if same else 'different'}",
            {"first": image.id, "second": second},
            {"identical image ids": same},
        )

    # scale ------------------------------------------------------------------------------

    def scale(self) -> tuple[Figure, dict[str, Any]]:
        """Figure: the kit's peak memory with the largest raw input over the smallest.

        A one-stage project (SCALE_PIPELINE, `scale_project`) in a temporary folder, with its
        DVC remote beside it. For each size (`scale_run`): `dvc add` of a raw input, `invoke
        repro`, `invoke publish`, then, in a fresh clone (an empty DVC cache, as on another
        machine, the same engine), `invoke pull HEAD` and `invoke rerun HEAD`, each under
        `peak.py`: its wall time, and the peak resident memory of the task's process and its
        children on the host (DVC's included, a container's never). All removed at the end.

        Returns:
            The figure, and each size's steps (the results' `scale`).
        """
        sizes = sorted(self.plan.scale_bytes)
        with tempfile.TemporaryDirectory(prefix="lockstep-bench-scale-", dir="/var/tmp") as tmp:
            project = self.scale_project(Path(tmp))
            try:
                runs = {size_name(size): self.scale_run(project, size) for size in sizes}
            finally:
                self.remove_commit_tags(project)
        small, large = runs[size_name(sizes[0])], runs[size_name(sizes[-1])]

        def peak(run: dict[str, Any], steps: tuple[str, ...] = KIT_STEPS) -> float:
            return max(run["steps"][step]["peak_mib"] for step in steps)

        ratios = {step: peak(large, (step,)) / peak(small, (step,)) for step in KIT_STEPS}
        worst = max(ratios, key=ratios.__getitem__)
        figure = Figure(
            "scale_memory",
            f"the kit's peak memory: {size_name(sizes[-1])} input / {size_name(sizes[0])}",
            peak(large) / peak(small),
            "ratio",
            # It streams: the input's size may not show in its memory.
            1.2,
            f"{size_name(sizes[0])} {peak(small):.0f} MiB, {size_name(sizes[-1])} "
            f"{peak(large):.0f} MiB (most grown: {worst}, {ratios[worst]:.2f})",
            {
                "peak_mib": {name: peak(run) for name, run in runs.items()},
                "step_ratios": ratios,
                "steps_s": [
                    sum(s["seconds"] for s in run["steps"].values()) for run in runs.values()
                ],
            },
            {
                "the stage read every byte": all(
                    r["stage_digest"] == r["sha256"] for r in runs.values()
                )
            },
        )
        return figure, runs

    def scale_project(self, folder: Path) -> Project:
        """The scale figure's project: the copy with one stage, its remote in `folder`.

        The copy's files and image (found, not built), with SCALE_PIPELINE for its pipeline, no
        results, and a DVC cache whose files the workspace links (`cache.type hardlink`): one
        copy of the input on the disk, not two. Its images are published once, untimed, with a
        one-byte input, so that each size's publish sends the input, not the images (a pull
        into an empty clone fetches both: their layouts, the same at every size).
        """
        self.log("scale: a one-stage project, its images published once (untimed)")
        project = Project.copy_of(
            self.project.root, folder / "project", image=self.project.settings().image
        )
        project.git(
            "rm", "-r", "--quiet", "--ignore-unmatch", "dvc.lock", "reports", debs.FOLDER + ".dvc"
        )
        shutil.rmtree(project.root / "outputs", ignore_errors=True)
        (project.root / "dvc.yaml").write_text(yaml.safe_dump(SCALE_PIPELINE, sort_keys=False))
        (project.root / SCALE_SCRIPT).parent.mkdir(parents=True, exist_ok=True)
        (project.root / SCALE_SCRIPT).write_text(SCALE_STAGE)
        for args in (
            ["remote", "add", "--force", "--default", "bench", str(folder / "remote")],
            ["config", "cache.type", "hardlink"],
        ):
            shell.run([BIN / "dvc", *args], cwd=project.root, quiet=True, env=project.env())
        self.commit(project, "bench: the scale project, its pipeline")
        write_raw(project.root / SCALE_RAW, 1)
        self.native("add", "--quiet", SCALE_RAW, project=project)
        self.invoke("repro", project=project)
        self.commit(project, "bench: the scale project, reproduced")
        self.invoke("publish", project=project)
        self.commit(project, "bench: the scale project, published")
        return project

    def scale_run(self, project: Project, size: int) -> dict[str, Any]:
        """Each step's wall time and peak memory, the raw input `size` bytes (see `scale`)."""
        name = size_name(size)
        self.log(f"scale: {name}: add, repro, publish, pull in a fresh clone, rerun")
        digest = write_raw(project.root / SCALE_RAW, size)
        steps = {"dvc add": self.measure([BIN / "dvc", "add", "--quiet", SCALE_RAW], project)}
        steps["repro"] = self.measure(invoked(project, "repro"), project)
        self.commit(project, f"bench: a {name} raw input")
        steps["publish"] = self.measure(invoked(project, "publish"), project)
        self.commit(project, f"bench: a {name} raw input, published")
        clone = Project(project.root.parent / "clone")
        shell.run([*GIT, "clone", "--quiet", project.root, clone.root], quiet=True)
        try:
            steps["pull"] = self.measure(invoked(clone, "pull", "HEAD"), clone)
            steps["rerun"] = self.measure(invoked(clone, "rerun", "HEAD"), clone)
            pulled = (clone.root / SCALE_DIGEST).read_text().strip()
        finally:
            shutil.rmtree(clone.root)
        return {
            "bytes": size,
            "sha256": digest,
            "stage_digest": pulled,
            "steps": {
                step: {"seconds": run["seconds"], "peak_mib": run["peak_kib"] / 1024}
                for step, run in steps.items()
            },
        }

    def commit(self, project: Project, message: str) -> None:
        """Commit everything in a project, the files a task said to commit among them."""
        project.git("add", "--all")
        project.git("commit", "--quiet", "--allow-empty", "-m", message)

    def remove_commit_tags(self, project: Project) -> None:
        """Remove the image tags the project's commits gave (`<image>:git-<sha12>`)."""
        shas = {sha[:12] for sha in project.git("rev-list", "HEAD").split()}
        listed = self.engine.output(
            "image", "ls", project.settings().image, "--format", "{{.Repository}}:{{.Tag}}"
        ).split()
        tags = [tag for tag in listed if tag.partition(":git-")[2][:12] in shas]
        if tags:
            self.engine.run("image", "rm", *tags, capture=True, check=False)

    # Slurm ------------------------------------------------------------------------------

    def rerun_slurm(self) -> Figure:
        """Figure: `rerun` of several tags as Slurm jobs, all at once, next to one after another.

        The pipeline is reproduced in the image at the 1x extract and committed, and that commit
        gets `plan.rerun_tags` empty commits on top, each tagged (one result under several
        commits: the cheapest that still runs the whole pipeline once per tag, since `rerun`
        reruns each commit once, whatever number of tags names it). Then, side by side, the
        kit's own function behind
        `./inv rerun T1 T2 T3 --on local` (`rerun.rerun_all`: here, one after another) and
        `./inv rerun T1 T2 T3 --on slurm` (the same: a job per tag, submitted at once).
        Every verdict must be identical, and the same on both sides. Without a cluster (see
        `slurm_cluster`) the figure is reported as not measured, with the reason.
        """
        count = self.plan.rerun_tags
        key, title, goal = (
            "rerun_slurm",
            f"rerun of {count} tags: Slurm (concurrent) / local (serial) wall time",
            # No slower than one after another, jobs, polling and judging included. A rerun
            # keeps two cores busy: on a 2-core node the ratio stays near 1; with a node (or
            # cores) per job it tends to 1/count.
            1.0,
        )

        def unmeasured(why: str, **details: Any) -> Figure:
            self.log(f"rerun on Slurm: not measured: {why}")
            raw = {"not_measured": why, **details}
            return Figure(key, title, None, "ratio", goal, f"not measured: {why}", raw)

        with slurm_cluster(self.log) as (cluster, missing):
            if missing:
                return unmeasured(missing)
            revs, commit = self.tag_reproduced(count)
            settings = self.project.settings()
            from dvc.repo import Repo  # noqa: F401 (imported by both sides' judging: not timed)

            self.log(f"rerun of {count} tags here, one after another")
            serial_s, here = _timed(
                lambda: list(
                    rerun.rerun_all(settings, self.engine, revs, tolerance=None, on=executor.LOCAL)
                )
            )
            self.log(f"rerun of {count} tags on Slurm ({cluster}), a job each")
            try:
                slurm_s, away = _timed(
                    lambda: list(
                        rerun.rerun_all(
                            settings, self.engine, revs, tolerance=None, on=executor.SLURM
                        )
                    )
                )
            except SlurmError as exc:
                return unmeasured(f"the Slurm side failed: {exc}", serial_s=serial_s)
        local_rows, slurm_rows = _verdicts(here), _verdicts(away)
        same = [
            None not in (local.verdict, slurm.verdict)
            and (local.verdict.outputs, local.verdict.metrics)
            == (slurm.verdict.outputs, slurm.verdict.metrics)
            for local, slurm in zip(here, away, strict=True)
        ]
        where = [outcome.ended.where() if outcome.ended else "" for outcome in away]
        nodes = sorted({outcome.ended.job["node"] for outcome in away if outcome.ended})
        return Figure(
            key,
            title,
            slurm_s / serial_s,
            "ratio",
            goal,
            f"{count} reruns of one result: local {serial_s:.1f} s, "
            f"Slurm {slurm_s:.1f} s (on {', '.join(nodes) or '?'})",
            {
                "serial_s": serial_s,
                "slurm_s": slurm_s,
                "cluster": cluster,
                "revisions": revs,
                "commit": commit,
                "rows_per_month": self.base_rows,
                "local_verdicts": local_rows,
                "slurm_verdicts": slurm_rows,
                "slurm_jobs": where,
            },
            {
                "every verdict identical": all(
                    row == "identical" for row in [*local_rows, *slurm_rows]
                ),
                "the same verdicts here and on Slurm": all(same),
            },
        )

    def tag_reproduced(self, count: int) -> tuple[list[str], str]:
        """Reproduce the pipeline at the 1x extract in the image and commit it; tag empty commits.

        Returns:
            The `count` tags, each on an empty commit of its own on top, and the result's commit.
        """
        self.log("rerun on Slurm: reproducing the pipeline at 1x and committing it (untimed)")
        self.project.set_rows(self.base_rows)
        self.project.git("commit", "--quiet", "--all", "--allow-empty", "-m", "bench: 1x extract")
        self.invoke("repro")
        self.project.git("add", "--all")
        self.project.git("commit", "--quiet", "--allow-empty", "-m", "bench: reproduced at 1x")
        commit = self.project.git("rev-parse", "HEAD")
        revs = [RERUN_TAG.format(number) for number in range(1, count + 1)]
        for rev in revs:
            self.project.git("commit", "--quiet", "--allow-empty", "-m", f"bench: {rev}")
            self.project.git("tag", "--force", rev)
        return revs, commit

    def cleanup(self, settings: Settings) -> list[str]:
        """Remove the images this run made and the copy's commit tags (not the shared image)."""
        sha = self.project.git("rev-parse", "HEAD")[:12]
        tags = self.engine.output(
            "image", "ls", settings.image, "--format", "{{.Repository}}:{{.Tag}}"
        ).split()
        refs = [*self.made, *(tag for tag in tags if f":git-{sha}" in tag)]
        if refs:
            self.engine.run("image", "rm", *refs, capture=True, check=False)
        return refs


def run(
    plan: Plan = FULL, *, source: Path = ROOT, out: Path = RESULTS, log: Callable | None = None
) -> dict[str, Any]:
    """Run every benchmark of `plan` on a copy of `source`; write and return the results."""
    log = log or (lambda text: print(f"bench: {text}", file=sys.stderr, flush=True))
    settings = config.load(source)
    engine = engines.find(settings.docker_cli())
    started = datetime.now(UTC)
    machine = describe_machine(engine)
    with tempfile.TemporaryDirectory(prefix="lockstep-bench-") as tmp:
        project = Project.copy_of(source, Path(tmp))
        bench = Bench(plan, engine, project, log)
        try:
            figures, profile, scale = _measure(bench)
        finally:
            removed = bench.cleanup(settings)
    results = {
        "schema": SCHEMA_VERSION,
        "command": COMMANDS.get(plan.name, f"benchmarks.bench.run(<{plan.name} plan>)"),
        "started": started.isoformat(timespec="seconds"),
        "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
        "machine": {
            **machine,
            "load_average_at_end": os.getloadavg(),
            "busy_containers_at_end": running_containers(engine),
        },
        "plan": asdict(plan),
        "figures": {figure.key: figure.as_json() for figure in figures},
        "stages": profile,
        "scale": scale,
        "removed_images": removed,
    }
    atomic_write(out, (json.dumps(results, indent=2) + "\n").encode())
    return results


def _measure(bench: Bench) -> tuple[list[Figure], dict[str, Any], dict[str, Any]]:
    """Every figure, in an order that keeps the copy pristine for the builds.

    Returns:
        The figures, the stage profile (results' `stages`) and the scale steps (`scale`).
    """
    figures = [*bench.cold_build(), bench.source_rebuild()]
    image = bench.warm_image()
    figures += bench.image_size(image)
    figures.append(bench.noop_build())
    figures.append(bench.noop_repro())
    figures += [bench.full_pipeline(size) for size in bench.plan.sizes]
    if bench.plan.reproducible:
        figures.append(bench.reproducible())
    if bench.plan.rerun_tags:  # before the lock bump, which needs a new image to reproduce
        figures.append(bench.rerun_slurm())
    scale = {}
    if bench.plan.scale_bytes:  # before the lock bump: the copy's image, found, not built
        figure, scale = bench.scale()
        figures.append(figure)
    figures += bench.remote_storage()
    figures.append(fresh_machine(FRESH_MACHINE))
    profile = {f"{size}x": bench.profile(size) for size in bench.plan.profile_sizes}
    return _ordered(figures), profile, scale


def invoked(project: Project, *args: str) -> list[Any]:
    """The command line of the kit's CLI on a project: `invoke -r ROOT ARGS`."""
    return [BIN / "invoke", "-r", str(project.root), *args]


def write_raw(path: Path, size: int) -> str:
    """Write `size` seeded pseudo-random bytes, a mebibyte at a time; return their sha256.

    The same bytes on every run (seed 34), about 150 MB/s, never more than a chunk in memory.
    """
    generator, hasher = random.Random(34), hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    # A new file: the old one may be a link to DVC's cache, which writing through would corrupt.
    path.unlink(missing_ok=True)
    with path.open("wb") as out:
        for start in range(0, size, 2**20):
            chunk = generator.randbytes(min(2**20, size - start))
            hasher.update(chunk)
            out.write(chunk)
    return hasher.hexdigest()


def size_name(size: int) -> str:
    """A size in bytes as people say it: 200 MB, 2 GB."""
    return f"{size / 1e9:g} GB" if size >= 1e9 else f"{size / MB:g} MB"


def fresh_machine(result: Path) -> Figure:
    """Figure 12: clone to first result on a fresh machine, as `benchmarks/fresh-machine` wrote it.

    An empty engine and a new user without caches are the machine's to provide, not the bench's.
    """
    title = "fresh machine: clone to first result (s)"
    if not result.exists():
        why = f"not measured: run benchmarks/fresh-machine with {result} as its RESULT"
        return Figure("fresh_machine", title, None, "s", 75.0, why, {})
    measured = json.loads(result.read_text())
    return Figure(
        "fresh_machine",
        title,
        measured["seconds"],
        "s",
        75.0,
        f"{measured['seconds']:.0f} s, {measured['lines']} lines printed ({measured['measured']})",
        measured,
        {"reproduced": measured["exit"] == 0, "about 40 lines": measured["lines"] <= 45},
    )


def _ordered(figures: list[Figure]) -> list[Figure]:
    order = [
        "fresh_machine",
        "cold_build",
        "source_rebuild",
        "noop_build",
        "noop_repro",
        "pipeline",
        "size",
        "remote",
        "bump",
        "reproducible",
        "rerun",
        "scale",
    ]
    return sorted(
        figures, key=lambda f: next(i for i, k in enumerate(order) if f.key.startswith(k))
    )


@contextlib.contextmanager
def empty_caches(engine: Engine, token: str) -> Iterator[None]:
    """An empty tree cache and an empty uv cache volume for the kit's builds, removed after."""
    volume = f"lockstep-bench-uv-{token}"
    saved = {name: os.environ.get(name) for name in ("XDG_CACHE_HOME", packages.UV_CACHE_ENV)}
    with tempfile.TemporaryDirectory(prefix="lockstep-bench-cache-", dir="/var/tmp") as cache:
        os.environ["XDG_CACHE_HOME"], os.environ[packages.UV_CACHE_ENV] = cache, volume
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            engine.run("volume", "rm", "--force", volume, capture=True, quiet=True, check=False)


@contextlib.contextmanager
def slurm_cluster(log: Callable) -> Iterator[tuple[str, str]]:
    """A Slurm cluster for the block: (which one, ""), or ("", why there is none).

    The user's, when SLURM_CONF is set or `sinfo` answers. Else, as root on a machine with
    Slurm's daemons and clients installed, the test suite's private one-node cluster
    (`tests.support.slurm.Cluster`: munged, slurmctld and slurmd in a temporary folder, on free
    ports), started for the block with SLURM_CONF pointing at it, and stopped after.
    """
    if os.environ.get("SLURM_CONF") or _sinfo_answers():
        yield "the user's cluster", ""
        return
    missing = [name for name in SLURM_DAEMONS if not (Path("/usr/sbin") / name).is_file()]
    missing += [] if shutil.which("sbatch") else ["sbatch"]
    if missing or os.geteuid() != 0:
        why = f"{', '.join(missing)} not installed" if missing else "not root"
        yield "", f"no Slurm cluster: SLURM_CONF unset, sinfo does not answer; {why}"
        return
    # The only import from tests/ here: the suite's cluster is reused rather than copied. It
    # needs the repository on sys.path (so does ./inv bench's task) and pytest (a dev
    # dependency, as the harness's own test), and reports a failure to start as pytest's.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import pytest

    from tests.support.slurm import Cluster

    log("rerun on Slurm: starting a private one-node cluster (tests.support.slurm)")
    cluster = Cluster()
    try:
        cluster.start()
    except (pytest.fail.Exception, pytest.skip.Exception) as exc:
        cluster.stop()
        why = (str(exc).strip().splitlines() or ["?"])[0]
        failed = f"the private Slurm cluster did not start: {why}"
    except BaseException:
        cluster.stop()
        raise
    else:
        failed = ""
    if failed:
        yield "", failed
        return
    saved = os.environ.get("SLURM_CONF")
    os.environ.update(cluster.env())
    try:
        yield "a private one-node cluster", ""
    finally:
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved
        cluster.stop()


def _sinfo_answers() -> bool:
    """Whether a Slurm controller answers `sinfo` here (a login node of a cluster)."""
    if not shutil.which("sinfo"):
        return False
    try:
        proc = subprocess.run(["sinfo", "--noheader"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def simple_index() -> str:
    """The simple index pip installs from (what the baseline's Poetry is pointed at)."""
    code = "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"
    return os.environ.get("PIP_INDEX_URL") or shell.output([sys.executable, "-c", code])


@contextlib.contextmanager
def cold_cache_mounts(engine: Engine, *, enabled: bool) -> Iterator[None]:
    """Remove the download cache mounts the cold builds create (each has a fresh id) afterwards."""
    before = set(cache_mounts(engine)) if enabled else set()
    try:
        yield
    finally:
        if enabled:
            for record in set(cache_mounts(engine)) - before:
                engine.run(
                    "builder",
                    "prune",
                    "--force",
                    "--filter",
                    f"id={record}",
                    capture=True,
                    check=False,
                )


def cache_mounts(engine: Engine) -> list[str]:
    """Ids of the build cache's download cache mounts (pip's, uv's) that no build is using."""
    records = json.loads(
        engine.output("system", "df", "--verbose", "--format", "{{json .BuildCache}}") or "[]"
    )
    return [
        record["ID"]
        for record in records
        if record["CacheType"] == "exec.cachemount"
        and "/root/.cache/" in record["Description"]
        # The CLI prints every field as a string: InUse is "false", which is truthy.
        and str(record["InUse"]).lower() == "false"
    ]


def describe_machine(engine: Engine) -> dict[str, Any]:
    """What the figures were measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.MULTILINE)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    memory = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model.group(1) if model else platform.processor(),
        "memory_gib": round(int(memory.group(1)) / 2**20, 1) if memory else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "docker": engine.output("version", "--format", "{{.Server.Version}}"),
        "load_average_at_start": os.getloadavg(),
        "busy_containers_at_start": running_containers(engine),
    }


def running_containers(engine: Engine) -> int:
    """How many containers run on the engine (other work makes the figures noisy)."""
    return len(engine.output("ps", "--quiet").split())


def table(results: dict[str, Any]) -> str:
    """The figures and the stage profile as Markdown tables."""
    lines = ["| figure | measured | value | goal | met |", "|---|---|---|---|---|"]
    for figure in results["figures"].values():
        unit = " s" if figure["unit"] == "s" else ""
        failed = [name for name, ok in figure["checks"].items() if not ok]
        met = "yes" if figure["met"] else "**no**" + (f" ({', '.join(failed)})" if failed else "")
        met = "-" if figure["met"] is None else met
        goal = "-" if figure["goal"] is None else f"<= {figure['goal']:g}{unit}"
        value = "-" if figure["value"] is None else f"{figure['value']:.3g}{unit}"
        lines.append(f"| {figure['title']} | {figure['summary']} | {value} | {goal} | {met} |")
    lines += ["", "| size | rows | stage | time (s) | peak memory (MiB) |", "|---|---|---|---|---|"]
    for size, profile in results["stages"].items():
        for name, stage in profile["stages"].items():
            lines.append(
                f"| {size} | {profile['rows']:,} | {name} | {stage['median_s']:.2f} "
                f"| {stage['peak_mib_max']:.0f} |"
            )
    return "\n".join(lines + scale_table(results.get("scale", {})))


def scale_table(scale: dict[str, Any]) -> list[str]:
    """The scale figure's steps, the sizes side by side: times, peaks, the peaks' ratio."""
    if not scale:
        return []
    ordered = sorted(scale.values(), key=lambda run: run["bytes"])
    small, large = ordered[0], ordered[-1]
    names = [size_name(run["bytes"]) for run in (small, large)]
    lines = [
        "",
        f"| step | time at {names[0]} (s) | time at {names[1]} (s) | peak at {names[0]} (MiB) "
        f"| peak at {names[1]} (MiB) | peak ratio |",
        "|---|---|---|---|---|---|",
    ]
    for step in SCALE_STEPS:
        a, b = small["steps"][step], large["steps"][step]
        lines.append(
            f"| {step} | {a['seconds']:.1f} | {b['seconds']:.1f} | {a['peak_mib']:.0f} "
            f"| {b['peak_mib']:.0f} | {b['peak_mib'] / a['peak_mib']:.2f} |"
        )
    return lines


def _captured(engine: Engine | None, *cmd: Any, **kwargs: Any):
    """Run a command with its output captured; on failure show the output's tail, then raise."""
    try:
        if engine is not None:
            return engine.run(*cmd, capture=True, **kwargs)
        return shell.run(list(cmd), capture=True, **kwargs)
    except CommandError as exc:
        print("\n".join(exc.log.splitlines()[-40:]), file=sys.stderr)
        raise


def _tree_bytes(folder: Path) -> int:
    """Bytes of every file under a folder."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _timed(func: Callable, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - start, result


def _verdicts(outcomes: list[rerun.Outcome]) -> list[str]:
    """Each rerun's verdict (`identical`, ...), or its error."""
    return [
        f"ERROR: {outcome.error}" if outcome.error else outcome.verdict.row().verdict
        for outcome in outcomes
    ]


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    try:
        print(table(run(QUICK if quick else FULL)))
    except LockstepError as exc:
        sys.exit(f"error: {exc}")
