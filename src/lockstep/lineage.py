"""The lineage record: which image, environment and commit produced each stage's outputs.

`reports/lineage.json` is tracked by git next to the DVC metrics, so checking out any commit
says exactly which image to pull to rerun it. The file is schema-versioned, written atomically,
and updated only for the stages that ran, leaving the others' entries as they were.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml
from lockstep import git
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


def read_dvc_lock(root: Path) -> dict:
    """The parsed dvc.lock, or an empty record when there is none yet."""
    path = root / "dvc.lock"
    return yaml.safe_load(path.read_text()) or {} if path.exists() else {}


def update(root: Path, stages: list[str], env: Environment, lock: dict) -> dict:
    """Record `env` for each stage that ran and write the file atomically."""
    record = read(root / PATH) if (root / PATH).exists() else {"schema": SCHEMA, "stages": {}}
    ran_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    fields = asdict(env)
    # A stage rerun in an image already pushed keeps where that image can be pulled from.
    pushed = images(record).get(env.image_id or "", {})
    if not fields["registry_digest"] and pushed.get("registry_digest"):
        fields.update(
            registry_digest=pushed["registry_digest"],
            registry_repository=pushed["registry_repository"],
        )
    for stage in stages:
        record["stages"][stage] = {**fields, "outs": stage_outputs(lock, stage), "ran_at": ran_at}
    write(root / PATH, record)
    return record


def record_push(root: Path, image_id: str, repository: str, digest: str) -> list[str]:
    """Record where an image was pushed, for every stage it produced; return those stages."""
    record = read(root / PATH)
    stages = [name for name, entry in record["stages"].items() if entry["image_id"] == image_id]
    for name in stages:
        record["stages"][name].update(registry_repository=repository, registry_digest=digest)
    write(root / PATH, record)
    return stages


def images(record: dict) -> dict[str, dict]:
    """Distinct images a record names, by id, with where each can be pulled from."""
    found: dict[str, dict] = {}
    for entry in record["stages"].values():
        image_id = entry.get("image_id")
        # Prefer an entry that says where the image was pushed.
        if image_id and not found.get(image_id, {}).get("registry_digest"):
            found[image_id] = entry
    return found


def read(path: Path) -> dict:
    """Load and check a lineage file."""
    try:
        return parse(path.read_text(), str(path))
    except FileNotFoundError:
        raise LineageError(f"{path}: no lineage recorded yet", "run `invoke repro` first") from None


def read_at(root: Path, rev: str) -> dict:
    """The lineage record as committed at a git revision."""
    try:
        text = git.show(root, rev, PATH)
    except LockstepError:
        raise LineageError(
            f"{rev} has no lineage: {PATH} is not there",
            "it was made before the kit; use a revision made with `invoke repro`",
        ) from None
    return parse(text, f"{PATH} at {rev}")


def parse(text: str, where: str) -> dict:
    """Parse lineage JSON and refuse unknown schemas."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LineageError(f"{where}: not valid JSON ({exc.msg})", "restore it from git") from None
    if record.get("schema") != SCHEMA:
        raise LineageError(
            f"{where}: schema {record.get('schema')!r} is not {SCHEMA}",
            "upgrade lockstep to read it",
        )
    return record


def write(path: Path, record: dict) -> None:
    """Write the record atomically, so readers never see half a file."""
    atomic_write(path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())


def table(record: dict) -> str:
    """A readable table: one row per stage."""
    header = ("stage", "where", "image", "fingerprint", "commit", "ran at")
    rows = [header]
    for stage, entry in sorted(record["stages"].items()):
        commit = (entry["commit"] or "none")[:10] + ("+dirty" if entry["dirty"] else "")
        image = (entry["image_id"] or "-").removeprefix("sha256:")[:12]
        fp = (entry["fingerprint"] or "-")[:12]
        rows.append((stage, entry["where"], image, fp, commit, entry["ran_at"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )
