"""What a rerun found, and how it reads: a verdict on each output and metric, and a summary.

An output is identical or not, byte for byte; a metric is compared by value, within a
tolerance when one is given (`--tolerance`), which then excuses a metrics file's bytes, never
another output's. The rerun's environment is set against the recorded one, fact by fact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lockstep.errors import ConfigError
from lockstep.history.metrics import MISSING


@dataclass(frozen=True)
class Row:
    """One revision's line in a rerun's summary."""

    rev: str
    image_id: str
    verdict: str  # identical, DIFFERS or ERROR
    detail: str
    where: str = ""  # the Slurm job and node that reran it; "" for a run here


@dataclass(frozen=True)
class Fact:
    """One fact of the environment: as the revision's lineage recorded it, and in the rerun."""

    name: str
    recorded: str
    # None when the rerun has no value of its own to compare: the tag an image was built
    # under, the commit the stages ran at (results are committed after their run).
    rerun: str | None

    def same(self) -> bool | None:
        """Whether both sides agree; None when only the record has it."""
        return None if self.rerun is None else self.recorded == self.rerun


@dataclass
class Verdict:
    """What a rerun found: one row per output and per metric."""

    rev: str
    image_id: str
    commit: str = ""  # the commit `rev` names
    outputs: list[tuple[str, str, bool]] = field(default_factory=list)
    metrics: list[tuple[str, float | None, float | None, bool]] = field(default_factory=list)
    # Metric files: with a tolerance, their bytes may differ as long as their values agree.
    metric_paths: set[str] = field(default_factory=set)
    # Metrics files DVC could not read on one side, and why: each fails the rerun.
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    # The usual suspects of nondeterminism in the stages whose outputs differ.
    hints: list[str] = field(default_factory=list)
    # How this machine differs from the recorded run's (`invoke diff`'s machine causes).
    causes: list[str] = field(default_factory=list)
    # The recorded environment against the rerun's, image facts first, then the machine.
    environment: list[Fact] = field(default_factory=list)
    # Whether the source each stage ran with is the revision's committed src/ (which the rerun
    # ran), naming the files that differ: one line per source tree (`lockstep.records.sources`).
    sources: list[str] = field(default_factory=list)

    def identical(self, tolerance: float | None = None) -> bool:
        """True when every output and metric matches (metrics within tolerance when given).

        A tolerance is for metrics only: every other output must be byte-identical. A
        comparison that checked nothing proves nothing, and is never identical.
        """
        if self.unchecked(tolerance) or self.unreadable:
            return False
        metrics_ok = all(ok for *_, ok in self.metrics)
        return metrics_ok and all(same for *_, same in self.binding(tolerance))

    def unchecked(self, tolerance: float | None = None) -> str:
        """Why this comparison checked nothing, or "" when it checked something."""
        if not (self.outputs or self.metrics or self.unreadable):
            return "no output was compared"
        if not (self.binding(tolerance) or self.metrics or self.unreadable):
            # A tolerance excuses the bytes of metrics files, so only their values count.
            return "nothing was compared: every output is a metrics file, holding no metric value"
        return ""

    def row(self, tolerance: float | None = None) -> Row:
        """This verdict as a summary line."""
        if self.identical(tolerance):
            detail = f"{len(self.outputs)} outputs, {len(self.metrics)} metrics"
            return Row(self.rev, self.image_id, "identical", detail)
        if reason := self.unchecked(tolerance):
            return Row(self.rev, self.image_id, "ERROR", reason)
        differing = [path for _, path, same in self.binding(tolerance) if not same]
        metrics = [name for name, *_, ok in self.metrics if not ok]
        unreadable = [f"{path} ({why})" for path, why in self.unreadable]
        return Row(self.rev, self.image_id, "DIFFERS", ", ".join(differing + metrics + unreadable))

    def headline(self, tolerance: float | None = None) -> str:
        """The verdict in a word or three: IDENTICAL, within tolerance, DIFFERS or ERROR."""
        verdict = self.row(tolerance).verdict
        if verdict != "identical":
            return verdict
        # Identical within the tolerance; exactly so when no byte and no value moved.
        exact = self.identical() and all(old == new for _, old, new, _ in self.metrics)
        return "IDENTICAL" if exact else f"within tolerance {tolerance:g}"

    def table(self, tolerance: float | None = None) -> str:
        """The verdict as readable text."""
        lines = [f"rerun of {self.rev} in {self.image_id[:19]}", "", "stage / output  verdict"]
        for stage, path, same in self.outputs:
            lines.append(f"{stage:10} {path:50} {'identical' if same else 'DIFFERS'}")
        lines += self.sources
        lines += self.hints
        lines += [f"likely cause: {cause}" for cause in self.causes]
        lines += ["", f"{'metric':40} {'recorded':>12} {'rerun':>12} {'delta':>12}"]
        for name, old, new, ok in self.metrics:
            delta = new - old if old is not None and new is not None else math.nan
            mark = "" if ok else "  DIFFERS"
            lines.append(f"{name:40} {_num(old):>12} {_num(new):>12} {delta:>12.3g}{mark}")
        for path, why in self.unreadable:
            lines.append(f"{path:40} unreadable: {why}  DIFFERS")
        if reason := self.unchecked(tolerance):
            lines += ["", f"error: {reason}"]
        return "\n".join(lines)

    def attested(self, tolerance: float | None = None) -> dict:
        """The verdict as the predicate of its signed statement (`lockstep.records.signing`)."""
        row = self.row(tolerance)
        return {
            "revision": self.rev,
            "image_id": self.image_id,
            "verdict": row.verdict,
            "detail": row.detail,
            "tolerance": tolerance,
            "outputs": {path: same for _, path, same in self.outputs},
            "metrics": {name: [old, new] for name, old, new, _ in self.metrics},
            "likely_causes": self.causes,
            "source": self.sources,
        }

    def binding(self, tolerance: float | None) -> list[tuple[str, str, bool]]:
        """The outputs whose bytes must match: with a tolerance, metrics files are excused."""
        if tolerance is None:
            return self.outputs
        return [row for row in self.outputs if row[1] not in self.metric_paths]


def compare_metrics(verdict: Verdict, at_rev: dict, in_rerun: dict, tolerance) -> None:
    """Add a row per metric value to `verdict`, and one per file unreadable on either side.

    `at_rev` and `in_rerun` are what `read_metrics` found on each side.
    """
    verdict.metric_paths |= set(at_rev) | set(in_rerun)
    for path in sorted(set(at_rev) | set(in_rerun)):
        old, new = at_rev.get(path, MISSING), in_rerun.get(path, MISSING)
        if isinstance(old, str):
            remedy = f" from git and the DVC cache; `invoke pull {verdict.rev}` brings it"
            why = old + remedy if old == MISSING else old
            verdict.unreadable.append((path, f"at {verdict.rev}: {why}"))
        elif isinstance(new, str):
            why = f"{MISSING}: the rerun did not write it" if new == MISSING else new
            verdict.unreadable.append((path, f"in the rerun: {why}"))
        else:
            for key in sorted(old.keys() | new.keys()):
                a, b = old.get(key), new.get(key)
                ok = a == b or (
                    tolerance is not None and None not in (a, b) and abs(a - b) <= tolerance
                )
                verdict.metrics.append((f"{path}:{key}", a, b, ok))


def summary(rows: list[Row]) -> str:
    """The verdict table of several reruns, one line per revision (and where it ran, if away)."""
    width = max([len(row.rev) for row in rows] + [8])
    away = max([len(row.where) for row in rows if row.where] + [0])
    where = f"{'where':{away}}  " if away else ""
    lines = [f"{'revision':{width}}  {'image':19}  {where}{'verdict':9}  detail"]
    for row in rows:
        where = f"{row.where or '-':{away}}  " if away else ""
        image = row.image_id[:19] or "-"
        lines.append(f"{row.rev:{width}}  {image:19}  {where}{row.verdict:9}  {row.detail}")
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


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"
