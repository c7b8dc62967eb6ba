"""`invoke rerun REV`: replay a historical result in its recorded image and prove it identical.

Reads the lineage committed at REV, obtains the exact image it names (local by id, else the
registry by digest, else the DVC archive) and checks the id, checks REV out in a temporary git
worktree (the user's tree and branch are never touched), runs the whole pipeline forced in that
image, and compares every output's md5 with REV's dvc.lock and every metric with REV's metrics.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from lockstep import archive, config, git, lineage, registry, shell
from lockstep.config import Settings
from lockstep.containers import Run
from lockstep.engine import Engine
from lockstep.errors import ImageNotFound, LineageError, LockstepError, RevisionError


@dataclass
class Verdict:
    """What a rerun found: one row per output and per metric."""

    rev: str
    image_id: str
    outputs: list[tuple[str, str, bool]] = field(default_factory=list)
    metrics: list[tuple[str, float | None, float | None, bool]] = field(default_factory=list)

    def identical(self, tolerance: float | None = None) -> bool:
        """True when every output and metric matches (metrics within tolerance when given)."""
        metrics_ok = all(ok for *_, ok in self.metrics)
        if tolerance is not None:
            return metrics_ok
        return metrics_ok and all(same for *_, same in self.outputs)

    def table(self) -> str:
        """The verdict as readable text."""
        lines = [f"rerun of {self.rev} in {self.image_id[:19]}", "", "stage / output  verdict"]
        for stage, path, same in self.outputs:
            lines.append(f"{stage:10} {path:50} {'identical' if same else 'DIFFERS'}")
        lines += ["", f"{'metric':40} {'recorded':>12} {'rerun':>12} {'delta':>12}"]
        for name, old, new, ok in self.metrics:
            delta = new - old if old is not None and new is not None else math.nan
            mark = "" if ok else "  DIFFERS"
            lines.append(f"{name:40} {_num(old):>12} {_num(new):>12} {delta:>12.3g}{mark}")
        return "\n".join(lines)


def rerun(
    settings: Settings, engine: Engine, rev: str, *, tolerance: float | None = None
) -> Verdict:
    """Rerun the pipeline as recorded at `rev` and compare; see the module docstring."""
    root = settings.root
    commit = git.resolve(root, rev)
    try:
        record = lineage.read_at(root, commit)
    except LockstepError:
        raise RevisionError(
            f"{rev} has no lineage: {lineage.PATH} is missing or unreadable there",
            "it was made before the kit; rerun a revision made with `invoke repro`",
        ) from None
    image_id, entry = recorded_image(record, rev)
    with git.worktree(root, commit) as tree:
        obtain(settings, engine, image_id, entry, revs=[None, commit])
        # The worktree's .git points at the host's repository, which the container cannot
        # see; DVC needs no git to reproduce, so tell it not to look.
        shell.run(["dvc", "config", "--local", "core.no_scm", "true"], cwd=tree, capture=True)
        run = Run(config.load(tree), engine, image_id, ["dvc", "repro", "--force"])
        if run.with_env(LOCKSTEP_WHERE="rerun").start() != 0:
            raise LockstepError(f"the pipeline failed when rerun at {rev}", "see its output above")
        return compare(root, commit, tree, rev, image_id, tolerance)


def recorded_image(record: dict, rev: str) -> tuple[str, dict]:
    """The image a revision's results were made in.

    Stages may have run in different images (a code change makes a new image) but always in
    one environment: the fingerprints must agree. The image of the latest run is used.
    """
    entries = [e for e in record["stages"].values() if e.get("image_id")]
    if not entries:
        raise LineageError(f"no stage at {rev} ran in an image", "rerun needs a container run")
    fingerprints = {e["fingerprint"] for e in entries}
    if len(fingerprints) > 1:
        raise LineageError(
            f"stages at {rev} ran in {len(fingerprints)} different environments",
            "reproduce the whole pipeline in one image (`invoke repro --force`) and commit",
        )
    image_id = max(entries, key=lambda e: e["ran_at"])["image_id"]
    # Any stage's entry for that image may be the one that says where it was pushed.
    return image_id, lineage.images(record)[image_id]


def obtain(settings: Settings, engine: Engine, image_id: str, entry: dict, revs: list) -> None:
    """Make the recorded image available locally, checking its id; say where it looked."""
    if engine.image_id(image_id) == image_id:
        return
    looked = ["not in the local engine"]
    if entry.get("registry_digest"):
        repo = entry["registry_repository"]
        try:
            registry.pull(engine, f"{repo}@{entry['registry_digest']}", image_id)
            return
        except LockstepError as exc:
            looked.append(f"registry: {exc.message}")
    else:
        looked.append("never pushed to a registry")
    try:
        archive.load(settings.root, engine, image_id, revs)
        return
    except LockstepError as exc:
        looked.append(f"DVC archive: {exc.message}")
    raise ImageNotFound(
        f"image {image_id[:19]} found nowhere: {'; '.join(looked)}",
        "push it (`invoke push`) or archive it (`invoke archive`) where it exists",
    )


def compare(root: Path, commit: str, tree: Path, rev: str, image_id: str, tolerance) -> Verdict:
    """Compare the rerun in `tree` with what was committed at `commit`."""
    verdict = Verdict(rev, image_id)
    recorded = yaml.safe_load(git.show(root, commit, "dvc.lock")) or {}
    rerun_lock = lineage.read_dvc_lock(tree)
    for stage in sorted(recorded.get("stages", {})):
        new = lineage.stage_outputs(rerun_lock, stage)
        for path, md5 in sorted(lineage.stage_outputs(recorded, stage).items()):
            verdict.outputs.append((stage, path, new.get(path) == md5))
    for path in metric_files(yaml.safe_load(git.show(root, commit, "dvc.yaml"))):
        old = flatten(json.loads(git.show(root, commit, path)))
        new = flatten(json.loads((tree / path).read_text()))
        for key in sorted(old.keys() | new.keys()):
            a, b = old.get(key), new.get(key)
            ok = a == b or (
                tolerance is not None and None not in (a, b) and abs(a - b) <= tolerance
            )
            verdict.metrics.append((f"{path}:{key}", a, b, ok))
    return verdict


def metric_files(dvc_yaml: dict) -> list[str]:
    """Paths of every stage's metrics files."""
    paths = []
    for stage in (dvc_yaml or {}).get("stages", {}).values():
        for item in stage.get("metrics", []):
            paths.append(next(iter(item)) if isinstance(item, dict) else item)
    return paths


def flatten(data, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of nested JSON, keyed by dotted path."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    if isinstance(data, bool) or not isinstance(data, int | float):
        return {}
    return {prefix.rstrip("."): float(data)}


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"
