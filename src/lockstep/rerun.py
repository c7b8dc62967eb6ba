"""`invoke rerun REV`: replay a historical result in its recorded image and prove it identical.

Replays REV (`lockstep.replay`: its recorded image, checked by id, on a temporary worktree),
runs the whole pipeline forced in that image, and compares every output's md5 with REV's
dvc.lock and every metric with REV's metrics.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from lockstep import git, lineage, replay, shell
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import ConfigError, LockstepError


@dataclass(frozen=True)
class Row:
    """One revision's line in a rerun's summary."""

    rev: str
    image_id: str
    verdict: str  # identical, DIFFERS or ERROR
    detail: str


@dataclass
class Verdict:
    """What a rerun found: one row per output and per metric."""

    rev: str
    image_id: str
    outputs: list[tuple[str, str, bool]] = field(default_factory=list)
    metrics: list[tuple[str, float | None, float | None, bool]] = field(default_factory=list)
    # Metric files: with a tolerance, their bytes may differ as long as their values agree.
    metric_paths: set[str] = field(default_factory=set)

    def identical(self, tolerance: float | None = None) -> bool:
        """True when every output and metric matches (metrics within tolerance when given).

        A tolerance is for metrics only: every other output must be byte-identical. A
        comparison that checked no output proves nothing, and is never identical.
        """
        if not self.outputs:
            return False
        metrics_ok = all(ok for *_, ok in self.metrics)
        outputs = self.outputs
        if tolerance is not None:
            outputs = [row for row in outputs if row[1] not in self.metric_paths]
        return metrics_ok and all(same for *_, same in outputs)

    def row(self, tolerance: float | None = None) -> Row:
        """This verdict as a summary line."""
        differing = [path for _, path, same in self.outputs if not same]
        metrics = [name for name, *_, ok in self.metrics if not ok]
        if self.identical(tolerance):
            detail = f"{len(self.outputs)} outputs, {len(self.metrics)} metrics"
            return Row(self.rev, self.image_id, "identical", detail)
        detail = ", ".join(differing + metrics) or "no output was compared"
        return Row(self.rev, self.image_id, "DIFFERS", detail)

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
    with replay.replay(settings, engine, rev) as past:
        # The worktree's .git points at the host's repository, which the container cannot
        # see; DVC needs no git to reproduce, so tell it not to look.
        shell.run(["dvc", "config", "--local", "core.no_scm", "true"], cwd=past.tree, capture=True)
        if past.container(["dvc", "repro", "--force"], where="rerun").start() != 0:
            raise LockstepError(f"the pipeline failed when rerun at {rev}", "see its output above")
        return compare(settings.root, past.commit, past.tree, rev, past.image_id, tolerance)


def compare(root: Path, commit: str, tree: Path, rev: str, image_id: str, tolerance) -> Verdict:
    """Compare the rerun in `tree` with what was committed at `commit`."""
    verdict = Verdict(rev, image_id)
    recorded = yaml.safe_load(git.show(root, commit, "dvc.lock")) or {}
    declared = yaml.safe_load(git.show(root, commit, "dvc.yaml")) or {}
    rerun_lock = lineage.read_dvc_lock(tree)
    # Every stage dvc.yaml declares is compared: one dvc.lock never recorded cannot pass.
    for stage in sorted(set(declared.get("stages", {})) | set(recorded.get("stages", {}))):
        new = lineage.stage_outputs(rerun_lock, stage)
        old = lineage.stage_outputs(recorded, stage)
        if not old:
            verdict.outputs.append((stage, "(not in the revision's dvc.lock)", False))
        for path, md5 in sorted(old.items()):
            verdict.outputs.append((stage, path, new.get(path) == md5))
    verdict.metric_paths = set(metric_files(declared))
    for path in sorted(verdict.metric_paths):
        old = flatten(json.loads(git.show(root, commit, path)))
        new = flatten(json.loads((tree / path).read_text()))
        for key in sorted(old.keys() | new.keys()):
            a, b = old.get(key), new.get(key)
            ok = a == b or (
                tolerance is not None and None not in (a, b) and abs(a - b) <= tolerance
            )
            verdict.metrics.append((f"{path}:{key}", a, b, ok))
    return verdict


def summary(rows: list[Row]) -> str:
    """The verdict table of several reruns, one line per revision."""
    width = max([len(row.rev) for row in rows] + [8])
    lines = [f"{'revision':{width}}  {'image':19}  {'verdict':9}  detail"]
    for row in rows:
        lines.append(
            f"{row.rev:{width}}  {row.image_id[:19] or '-':19}  {row.verdict:9}  {row.detail}"
        )
    return "\n".join(lines)


def parse_tolerance(text: str | None) -> float | None:
    """`--tolerance` as a number: finite and not negative.

    Raises:
        ConfigError: it is not such a number.
    """
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(
            f"--tolerance {text!r} is not a number of 0 or more",
            "give the largest metric difference to accept, e.g. --tolerance 0.001",
        )
    return value


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
