"""`invoke rerun REV`: replay a historical result in its recorded image and prove it identical.

Replays REV (`lockstep.history.replay`: its recorded image, checked by id, on a temporary worktree),
runs the whole pipeline forced in that image, and compares every output's md5 with REV's
dvc.lock and every metric with REV's metrics. The environment is compared too, fact by fact:
the image's, the lock's, and the machine's the lineage recorded against the rerun's.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from lockstep import git, shell, yamltext
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import ConfigError, LockstepError, first_line
from lockstep.history import causes, replay
from lockstep.images import builder
from lockstep.records import lineage, sources
from lockstep.run import executor, pipeline
from lockstep.run.containers import Run
from lockstep.runtime import machine
from lockstep.share import remote

MISSING = "missing"
UNSET = "unset"  # a fact one side has and the other has not (a variable set on one machine)
NOT_RECORDED = "not recorded"  # the machine, by a record made before the kit kept it


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


def rerun(
    settings: Settings, engine: Engine, rev: str, *, tolerance: float | None = None
) -> Verdict:
    """Rerun the pipeline as recorded at `rev` and compare; see the module docstring."""
    with replay.replay(settings, engine, rev) as past:
        if forced(past).start() != 0:
            raise LockstepError(f"the pipeline failed when rerun at {rev}", "see its output above")
        # Every rerun's environment is compared, the machine's too; asked as a run asks them,
        # once per image, numeric variables and CPU (the probe's imports take seconds).
        probe = past.container(machine.command(), where="rerun")
        return judged(settings, past, tolerance, pipeline.machine_facts(settings, probe))


def rerun_all(
    settings: Settings, engine: Engine, revs: list[str], *, tolerance: float | None, on: str
) -> list[Outcome]:
    """Rerun every revision at once on `on` (Slurm: a job each); how each went, in order.

    A revision that cannot be replayed, or whose job fails, is an outcome with an error; the
    others still run and are judged.
    """
    outcomes = {rev: Outcome(rev) for rev in revs}
    under = executor.folder(settings, on)
    with contextlib.ExitStack() as stack:
        pasts = {}
        for rev in revs:
            try:
                pasts[rev] = stack.enter_context(replay.replay(settings, engine, rev, under=under))
            except LockstepError as exc:
                outcomes[rev].error = exc
        runs = {f"rerun {rev}": forced(past) for rev, past in pasts.items()}
        for (rev, past), ended in zip(
            pasts.items(), executor.run_all(settings, runs, on), strict=True
        ):
            outcomes[rev].ended = ended
            try:
                if ended.error:
                    raise LockstepError(ended.error, "the other revisions were judged")
                outcomes[rev].verdict = judged(settings, past, tolerance, ended.facts or {})
            except LockstepError as exc:
                outcomes[rev].error = exc
    return list(outcomes.values())


@dataclass
class Outcome:
    """One revision of `rerun_all`: its verdict or its error, and where it ran."""

    rev: str
    verdict: Verdict | None = None
    error: LockstepError | None = None
    ended: executor.Ended | None = None


def forced(past: replay.Replay) -> Run:
    """The container that reproduces the whole pipeline in the revision's worktree."""
    # The worktree's .git points at the host's repository, which the container cannot
    # see; DVC needs no git to reproduce, so tell it not to look.
    shell.run(["dvc", "config", "--local", "core.no_scm", "true"], cwd=past.tree, capture=True)
    return past.container(["dvc", "repro", "--force"], where="rerun")


def judged(settings: Settings, past: replay.Replay, tolerance: float | None, here: dict) -> Verdict:
    """The verdict on a rerun that ended in `past`'s worktree, on a machine of facts `here`."""
    verdict = compare(settings.root, past.commit, past.tree, past.rev, past.image_id, tolerance)
    verdict.environment = environment(past, here)
    verdict.sources = source_lines(settings.root, past.commit, past.record)
    if not verdict.identical(tolerance):
        # Same commit, same image: what else differs is the machine it ran on.
        changed = causes.machine_changes(causes.facts(past.record), here)
        verdict.causes = [cause.what for cause in changed]
    return verdict


def source_lines(root: Path, commit: str, record: lineage.LineageRecord) -> list[str]:
    """For each source tree the stages ran with: is it `commit`'s src/, and if not, which files.

    A result made from an uncommitted tree and committed afterwards may hold other source than
    the one that ran: the rerun ran the committed one, so it says so even when every output is
    identical.
    """
    by_tree: dict[str | None, list[str]] = {}
    for stage, run in sorted(record.stages.items()):
        by_tree.setdefault(run.environment.source_tree, []).append(stage)
    return [
        f"source of {', '.join(stages)}: {sources.check(root, commit, tree).describe()}"
        for tree, stages in by_tree.items()
    ]


def environment(past: replay.Replay, here: dict) -> list[Fact]:
    """The environment `past` recorded against the rerun's, whose machine facts are `here`.

    The rerun's image facts are the labels of the image it ran (the build wrote them, and the
    lineage copied them from there), its lock is the revision's poetry.lock.
    """
    env = past.run.environment
    labels = past.engine.labels(past.image_id)

    def label(name: str) -> str:
        return labels.get(f"{builder.LABEL}.{name}") or UNSET

    lock = past.tree / "poetry.lock"
    locked = hashlib.sha256(lock.read_bytes()).hexdigest() if lock.exists() else UNSET
    dirty = " (with uncommitted changes)" if env.dirty else ""
    facts = [
        Fact("image id", env.image_id or UNSET, past.image_id),
        Fact("image tag", env.image_tag or UNSET, None),
        Fact("environment fingerprint", env.fingerprint or UNSET, label("fingerprint")),
        Fact("base image", env.base_image or UNSET, label("base")),
        Fact("Python", env.python_version, label("python")),
        Fact("DVC", env.dvc_version, label("dvc")),
        Fact("poetry.lock sha256", env.lock_sha256, locked),
        Fact("commit the stages ran at", env.commit + dirty, None),
    ]
    return facts + machine_facts(causes.facts(past.record), here)


def machine_facts(recorded: dict | None, here: dict) -> list[Fact]:
    """The machine's facts on both sides, named and grouped as `causes.machine_groups` does."""
    new = causes.machine_groups(here)
    old = causes.machine_groups(recorded) if recorded else [{}] * len(new)
    facts = []
    for before, after in zip(old, new, strict=True):
        for name in sorted(before.keys() | after.keys()):
            was = _fact(before, name) if recorded else NOT_RECORDED
            facts.append(Fact(name, was, _fact(after, name)))
    return facts


def _fact(values: dict, name: str) -> str:
    return causes.show(values[name]) if name in values else UNSET


def compare(root: Path, commit: str, tree: Path, rev: str, image_id: str, tolerance) -> Verdict:
    """Compare the rerun in `tree` with what was committed at `commit`."""
    verdict = Verdict(rev, image_id, commit)
    recorded = yamltext.load(git.show(root, commit, "dvc.lock")) or {}
    declared = yamltext.load(git.show(root, commit, "dvc.yaml")) or {}
    rerun_lock = lineage.read_dvc_lock(tree)
    locked = recorded.get("stages", {})
    # Every stage dvc.yaml declares must have been recorded: one never run cannot pass. A
    # `foreach` stage is recorded once per item, as `stage@item`.
    for stage in sorted(declared.get("stages", {})):
        if not any(name == stage or name.startswith(f"{stage}@") for name in locked):
            verdict.outputs.append((stage, "(not in the revision's dvc.lock)", False))
    for stage in sorted(locked):
        new = lineage.stage_outputs(rerun_lock, stage)
        for path, md5 in sorted(lineage.stage_outputs(recorded, stage).items()):
            verdict.outputs.append((stage, path, new.get(path) == md5))
    compare_metrics(verdict, read_metrics(root, commit), read_metrics(tree), tolerance)
    # An output directory of nothing but metrics files is one too: its values decide.
    verdict.metric_paths |= {
        path for _, path, _ in verdict.outputs if metrics_only(tree, path, verdict.metric_paths)
    }
    differing = {stage for stage, _, same in verdict.binding(tolerance) if not same}
    for stage in sorted(differing):
        verdict.hints += suspects(stage, recorded.get("stages", {}).get(stage, {}))
    return verdict


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


def metrics_only(tree: Path, output: str, metric_paths: set[str]) -> bool:
    """Whether an output is a directory of files in `tree`, every one a metrics file."""
    files = [path for path in (tree / output).rglob("*") if path.is_file()]
    return bool(files) and all(path.relative_to(tree).as_posix() in metric_paths for path in files)


def read_metrics(repo_dir: Path, commit: str | None = None) -> dict[str, dict[str, float] | str]:
    """Every metrics file DVC knows in a repository: its flattened values, or why it is unreadable.

    DVC's own collection, so nothing is missed: stages' `metrics:` and the top-level
    `metrics:` dvclive writes, files inside output directories, JSON, YAML or TOML. At
    `commit`, files come from git or, for DVC outputs, the DVC cache; else from the workspace.

    Raises:
        LockstepError: DVC cannot even list the metrics (a malformed dvc.yaml).
    """
    from dvc.repo import Repo  # heavy; only reruns need it

    # At a revision, a metric DVC lacks in the cache is read from the checkout's remote.
    pinned = remote.checkout_remote(repo_dir) if commit else {}
    with Repo(str(repo_dir), rev=commit, **pinned) as repo:
        # No `revs`: the one result is the revision the repository was opened at.
        (result,) = repo.metrics.show(hide_workspace=False, on_error="return").values()
    if "error" in result:
        raise LockstepError(
            f"DVC cannot list the metrics {f'at {commit}' if commit else 'of the rerun'}: "
            f"{first_line(result['error'])}",
            "check the revision's dvc.yaml with `dvc metrics show`",
        )
    return {
        path: flatten(found["data"]) if "data" in found else _why(found["error"])
        for path, found in result["data"].items()
    }


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


# Params that set how many threads or processes compute: more than one can reorder
# floating-point reductions. Seeds left unset draw new random numbers on every run.
THREADS = re.compile(r"n_?jobs|n_?threads?|num_threads|threads?|thread_count|(n_|num_)?workers")
SEEDS = re.compile(r"seed|random_seed|random_state")
ENV_THREADS = re.compile(r"\b([A-Z]+_NUM_THREADS)=(\S+)")
THREADS_WHY = "multi-threaded reductions can change the last bits of a result"


def suspects(stage: str, entry: dict) -> list[str]:
    """Hints at what may make a stage nondeterministic, from its entry in a dvc.lock.

    Its params (thread counts other than 1, seeds set to null) and thread counts its command
    sets in the environment (`OMP_NUM_THREADS=4`): one line each.
    """
    found = []
    for file, values in sorted(entry.get("params", {}).items()):
        for key, value in sorted(leaves(values).items()):
            name = key.rsplit(".", 1)[-1].lower()
            if THREADS.fullmatch(name) and value != 1 and not isinstance(value, bool):
                why = f"{THREADS_WHY}; set it to 1, or compare with --tolerance"
            elif SEEDS.fullmatch(name) and value is None:
                why = "an unset seed draws new random numbers on every run; set it to a number"
            else:
                continue
            found.append(f"hint: stage {stage}: {file} {key} = {value} ({why})")
    cmd = entry.get("cmd", "")
    for var, value in ENV_THREADS.findall(" ".join(cmd) if isinstance(cmd, list) else cmd):
        if value != "1":
            why = f"{THREADS_WHY}; set it to 1, or compare with --tolerance"
            found.append(f"hint: stage {stage}: its cmd sets {var}={value} ({why})")
    return found


def leaves(data, prefix: str = "") -> dict:
    """Every leaf of nested mappings, keyed by dotted path."""
    if not isinstance(data, dict):
        return {prefix.rstrip("."): data}
    out = {}
    for key, value in data.items():
        out.update(leaves(value, f"{prefix}{key}."))
    return out


def flatten(data) -> dict[str, float]:
    """Numeric leaves of nested metrics, keyed by dotted path."""
    return {
        key: float(value)
        for key, value in leaves(data).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _why(error: Exception) -> str:
    """Why DVC could not read a metrics file: missing (its errors vary), or DVC's reason."""
    # A DVC output whose file, or whose directory's listing, is not in the cache fails with
    # an OSError, or with DVC's own error caused by one.
    if isinstance(error, OSError) or isinstance(error.__cause__, OSError):
        return MISSING
    return first_line(error)
