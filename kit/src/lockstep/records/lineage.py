"""The lineage record: which image, environment and commit produced each stage's outputs.

`reports/lineage.json` is tracked by git next to the DVC metrics, so checking out any commit
says exactly which image to pull to rerun it. The file is schema-versioned, written atomically,
and updated only for the stages that ran, leaving the others' entries as they were.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lockstep import git, yamltext
from lockstep.errors import LineageError, LockstepError
from lockstep.files import atomic_write

SCHEMA = 1
PATH = "reports/lineage.json"


@dataclass(frozen=True)
class Environment:
    """Where and with what a run happened; shared by every stage it ran."""

    where: str
    image_id: str | None
    image_tag: str | None
    registry_digest: str | None
    registry_repository: str | None
    fingerprint: str | None
    lock_sha256: str
    base_image: str | None
    commit: str
    dirty: bool
    dvc_version: str
    python_version: str
    # The image's SBOM (reports/sbom/), `sha256:...`; absent from records made before SBOMs.
    sbom: str | None = None
    # The CPU, BLAS kernels, thread counts and numeric env vars the stages ran with
    # (`lockstep.runtime.machine`); absent from records made before.
    machine: dict | None = None
    # The cluster job that ran the stages (`{"scheduler": "slurm", "id": ..., "node": ...}`);
    # absent from a run on the submitting machine.
    job: dict | None = None
    # The git tree id of the src/ the stages ran with, uncommitted changes included (the image
    # holds no source: runs mount it; `lockstep.records.sources`); absent from records made before.
    source_tree: str | None = None


def stage_outputs(lock: dict, stage: str) -> dict[str, str]:
    """Each output's md5 for a stage, as dvc.lock records it."""
    entry = lock.get("stages", {}).get(stage, {})
    return {out["path"]: out.get("md5", "") for out in entry.get("outs", [])}


def output_hashes(lock: dict) -> dict[str, str]:
    """Every stage output's md5, by path, as dvc.lock records it."""
    return {
        path: md5
        for stage in lock.get("stages", {})
        for path, md5 in stage_outputs(lock, stage).items()
    }


def changed_stages(before: dict, after: dict) -> list[str]:
    """Stages whose dvc.lock entries a run added or changed.

    Those are the stages it ran or restored from DVC's run cache, whatever DVC printed.
    """
    old = before.get("stages", {})
    return [name for name, entry in after.get("stages", {}).items() if old.get(name) != entry]


def rewritten_stages(root: Path, lock: dict, since: float) -> list[str]:
    """Stages every one of whose outputs was written at `since` or later.

    A forced rerun leaves the same dvc.lock entry, but new files. (The second of slack covers
    filesystems that keep whole-second times.)
    """
    found = []
    for stage in lock.get("stages", {}):
        paths = [root / path for path in stage_outputs(lock, stage)]
        if paths and all(_newest_write(path) >= since - 1 for path in paths):
            found.append(stage)
    return found


def _newest_write(path: Path) -> float:
    """When a file, or the newest file in a folder, was last written; 0 when missing."""
    if path.is_dir():
        return max((p.stat().st_mtime for p in path.rglob("*") if p.is_file()), default=0.0)
    return path.stat().st_mtime if path.exists() else 0.0


def disagreements(record: LineageRecord, lock: dict) -> list[str]:
    """Where the lineage and dvc.lock disagree, one phrase per stage; empty when they agree."""
    found = []
    for stage in sorted(set(lock.get("stages", {})) | set(record.stages)):
        outs = stage_outputs(lock, stage)
        if stage not in record.stages:
            found.append(f"{stage} has no lineage")
        elif stage not in lock.get("stages", {}):
            found.append(f"{stage} is in the lineage but not in dvc.lock")
        elif record.stages[stage].outs != outs:
            found.append(f"{stage}'s outputs differ from dvc.lock's")
    return found


def read_dvc_lock(root: Path) -> dict:
    """The parsed dvc.lock, or an empty record when there is none yet."""
    path = root / "dvc.lock"
    return yamltext.load(path.read_text()) or {} if path.exists() else {}


@dataclass(frozen=True)
class StageRun:
    """One stage's last run: the environment it ran in, the outputs it wrote, and when."""

    environment: Environment
    outs: dict[str, str]
    ran_at: str

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> StageRun:
        """A run as the lineage file stores it: the environment's fields, `outs`, `ran_at`.

        Raises:
            LineageError: a field is missing.
        """
        names = [f.name for f in fields(Environment)]
        required = [f.name for f in fields(Environment) if f.default is MISSING]
        missing = [name for name in [*required, "outs", "ran_at"] if name not in data]
        if missing:
            raise LineageError(f"{where}: no {', '.join(missing)}", "restore it from git")
        env = Environment(**{name: data[name] for name in names if name in data})
        return cls(env, dict(data["outs"]), data["ran_at"])

    def to_dict(self) -> dict[str, Any]:
        """The run as the lineage file stores it (flat, for people reading the JSON)."""
        env = asdict(self.environment)
        for name in ("job", "source_tree"):
            if env[name] is None:
                del env[name]  # a run on this machine, outside git: read as they always have
        return {**env, "outs": dict(self.outs), "ran_at": self.ran_at}


@dataclass
class LineageRecord:
    """Every stage's last run, by stage name."""

    stages: dict[str, StageRun] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> LineageRecord:
        """A record as the lineage file stores it.

        Raises:
            LineageError: the schema is unknown, or a stage's entry is incomplete.
        """
        if data.get("schema") != SCHEMA:
            raise LineageError(
                f"{where}: schema {data.get('schema')!r} is not {SCHEMA}",
                "upgrade lockstep to read it",
            )
        stages = data.get("stages")
        if not isinstance(stages, dict):
            raise LineageError(f"{where}: no stages", "restore it from git")
        return cls(
            {name: StageRun.from_dict(entry, f"{where}: {name}") for name, entry in stages.items()}
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as the lineage file stores it."""
        return {"schema": SCHEMA, "stages": {k: v.to_dict() for k, v in self.stages.items()}}

    def images(self) -> dict[str, StageRun]:
        """Distinct images the record names, by id (with a run that says where it was pushed).

        Runs of one image may differ only in whether they recorded the push.
        """
        found: dict[str, StageRun] = {}
        for run in self.stages.values():
            image_id = run.environment.image_id
            if image_id and not (
                found.get(image_id) and found[image_id].environment.registry_digest
            ):
                found[image_id] = run
        return found

    def source_trees(self) -> set[str]:
        """The source trees the stages ran with (`lockstep.records.sources`)."""
        return {run.environment.source_tree for run in self.stages.values()} - {None}

    def record_push(self, image_id: str, repository: str, digest: str) -> list[str]:
        """Record where an image was pushed, for every stage it produced; return those stages."""
        stages = [name for name, run in self.stages.items() if run.environment.image_id == image_id]
        for name in stages:
            run = self.stages[name]
            env = replace(run.environment, registry_repository=repository, registry_digest=digest)
            self.stages[name] = replace(run, environment=env)
        return stages

    def table(self) -> str:
        """A readable table: one row per stage."""
        header = ("stage", "where", "image", "fingerprint", "source", "commit", "ran at")
        rows = [header]
        for stage, run in sorted(self.stages.items()):
            env = run.environment
            commit = (env.commit or "none")[:10] + ("+dirty" if env.dirty else "")
            image = (env.image_id or "-").removeprefix("sha256:")[:12]
            fp = (env.fingerprint or "-")[:12]
            source = (env.source_tree or "-")[:12]
            rows.append((stage, env.where, image, fp, source, commit, run.ran_at))
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        return "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
        )


def record_run(
    root: Path,
    before: dict,
    env: Environment,
    *,
    machine: Callable[[], dict | None] | None = None,
    forced_since: float | None = None,
) -> LineageRecord | None:
    """Record `env` for the stages a run at `root` ran; the record, or None when none ran.

    The stages are read from what the run left, not from what DVC printed: those whose dvc.lock
    entries changed from `before` (the dvc.lock the run started from) and, after a forced run
    that succeeded (`forced_since`: when it started), those whose outputs it rewrote, since a
    forced rerun gives the same entry. Only a forced run: a plain one also writes outputs it
    did not make (checked out of the cache, as in a fresh clone), whose new files must not
    re-stamp a stage with this run's record.

    Args:
        root: the workspace or worktree the run ran in.
        before: its dvc.lock before the run.
        env: the run's environment.
        machine: the machine facts to record in `env`, asked only when a stage ran (they may
            take a probe of seconds).
        forced_since: for a forced run that succeeded, the time it started.
    """
    after = read_dvc_lock(root)
    ran = changed_stages(before, after)
    if forced_since is not None:
        ran += [stage for stage in rewritten_stages(root, after, forced_since) if stage not in ran]
    if not ran:
        return None
    if machine:
        env = replace(env, machine=machine())
    return update(root, ran, env, after)


def update(root: Path, stages: list[str], env: Environment, lock: dict) -> LineageRecord:
    """Record `env` for each stage that ran and write the file atomically."""
    path = root / PATH
    record = read(path) if path.exists() else LineageRecord()
    ran_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    # A stage rerun in an image already pushed keeps where that image can be pulled from.
    pushed = record.images().get(env.image_id or "")
    if pushed and not env.registry_digest and pushed.environment.registry_digest:
        env = replace(
            env,
            registry_digest=pushed.environment.registry_digest,
            registry_repository=pushed.environment.registry_repository,
        )
    for stage in stages:
        record.stages[stage] = StageRun(env, stage_outputs(lock, stage), ran_at)
    write(path, record)
    return record


def read(path: Path) -> LineageRecord:
    """Load and check a lineage file."""
    try:
        return parse(path.read_text(), str(path))
    except FileNotFoundError:
        raise LineageError(f"{path}: no lineage recorded yet", "run `invoke repro` first") from None


def read_at(root: Path, rev: str) -> LineageRecord:
    """The lineage record as committed at a git revision."""
    try:
        text = git.show(root, rev, PATH)
    except LockstepError:
        raise LineageError(
            f"{rev} has no lineage: {PATH} is not there",
            "it was made before the kit; use a revision made with `invoke repro`",
        ) from None
    return parse(text, f"{PATH} at {rev}")


def parse(text: str, where: str) -> LineageRecord:
    """Parse lineage JSON and refuse unknown schemas."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LineageError(f"{where}: not valid JSON ({exc.msg})", "restore it from git") from None
    if not isinstance(data, dict):
        raise LineageError(f"{where}: not a lineage record", "restore it from git")
    return LineageRecord.from_dict(data, where)


def write(path: Path, record: LineageRecord) -> None:
    """Write the record atomically, so readers never see half a file."""
    text = json.dumps(record.to_dict(), indent=2, sort_keys=True) + "\n"
    atomic_write(path, text.encode())
