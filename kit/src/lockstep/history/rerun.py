"""`invoke rerun REV`: replay a historical result in its recorded image and prove it identical.

Replays REV (`lockstep.history.replay`: its recorded image, checked by id, on a temporary worktree),
runs the whole pipeline forced in that image, and compares every output's md5 with REV's
dvc.lock and every metric with REV's metrics (`lockstep.history.metrics`). The environment is
compared too, fact by fact (`lockstep.history.facts`): the image's, the lock's, and the
machine's the lineage recorded against the rerun's. What it finds is a
`lockstep.history.verdict`, with hints at nondeterminism (`lockstep.history.hints`) when
outputs differ.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lockstep import dvcconfig, files, git, yamltext
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import EngineStoppedError, LockstepError
from lockstep.history import causes, facts, replay
from lockstep.history.hints import suspects
from lockstep.history.metrics import metrics_only, read_metrics
from lockstep.history.verdict import Verdict, compare_metrics
from lockstep.records import lineage, sources
from lockstep.run import executor
from lockstep.run.containers import Run


def rerun_all(
    settings: Settings, engine: Engine, revs: list[str], *, tolerance: float | None, on: str
) -> Iterator[Outcome]:
    """Rerun every revision on the executor `on` and compare; how each went, in order.

    `on` is LOCAL (one run after another, here), SLURM (a job each, all submitted at once), or
    "" for the project's executor (`lockstep.run.executor.kind`). Either way the executor runs
    them, and its machine probe, run after the pipeline in the same container, gives the facts
    of the machine the environment is compared with. A revision that cannot be replayed, or
    whose run fails, is an outcome with an error; the others still run and are judged. The
    outcomes come as they are judged: here, each right after its run.

    Revisions that name one commit are rerun once: the commit fixes everything a rerun
    depends on (the lineage's image, the locks, the code, the data its `.dvc` files pin), so
    its outcome stands for each of them (`Outcome.same_as` names the revision that ran). A gate
    over twenty releases tagged on a few commits pays for the commits, not the tags.

    Raises:
        ConfigError: `on` names no executor (at once; the rest while iterating).
    """
    on = executor.kind(settings, on)
    commits = {rev: _commit(settings.root, rev) for rev in revs}
    first: dict[str, str] = {}  # the first revision naming each commit: the one rerun
    for rev in revs:
        first.setdefault(commits[rev], rev)
    distinct = list(first.values())
    # On Slurm every revision runs at once, side by side; here one after another, each
    # worktree (its inputs checked out) gone before the next is made: a gate over twenty
    # releases holds one at a time on this disk.
    batches = [distinct] if on == executor.SLURM else [[rev] for rev in distinct]
    ran = (found for batch in batches for found in _batch(settings, engine, batch, tolerance, on))
    return _for_each(revs, commits, ran)


def _commit(root: Path, rev: str) -> str:
    """The commit `rev` names; for one that names none, a key of its own (its replay says why)."""
    try:
        return git.resolve(root, rev)
    except LockstepError:
        return f"unresolved {rev}"


def _for_each(
    revs: list[str], commits: dict[str, str], ran: Iterator[Outcome]
) -> Iterator[Outcome]:
    """Each revision's outcome, in order: its own run, or the run of the first naming its commit.

    `ran` yields the outcomes of the first revision naming each commit, in the order those
    revisions come in `revs`; each is drawn when its revision is reached.
    """
    judged: dict[str, Outcome] = {}
    for rev in revs:
        if commits[rev] not in judged:
            judged[commits[rev]] = next(ran)
        outcome = judged[commits[rev]]
        yield outcome if outcome.rev == rev else outcome.standing_for(rev)


def _batch(
    settings: Settings, engine: Engine, revs: list[str], tolerance: float | None, on: str
) -> list[Outcome]:
    """Replay `revs`, run them together on the executor `on`, judge each."""
    outcomes = {rev: Outcome(rev) for rev in revs}
    under = executor.folder(settings, on)
    with contextlib.ExitStack() as stack:
        pasts = {}
        for rev in revs:
            try:
                pasts[rev] = stack.enter_context(replay.replay(settings, engine, rev, under=under))
            except EngineStoppedError:
                raise  # every revision needs the engine: the rerun ends with this line
            except LockstepError as exc:
                outcomes[rev].error = exc
            except OSError as exc:  # a full disk, say: this revision's error row, not the end
                outcomes[rev].error = LockstepError(files.describe_os_error(exc))
        runs = {f"rerun {rev}": forced(past) for rev, past in pasts.items()}
        for (rev, past), ended in zip(
            pasts.items(), executor.run_all(settings, runs, on), strict=True
        ):
            outcomes[rev].ended = ended
            try:
                if ended.error:
                    raise _failed(rev, ended)
                outcomes[rev].verdict = judged(settings, past, tolerance, ended.facts or {})
            except LockstepError as exc:
                outcomes[rev].error = exc
    return list(outcomes.values())


def _failed(rev: str, ended: executor.Ended) -> LockstepError:
    """Why a revision's run failed: its pipeline, whose output is above, or its Slurm job."""
    if ended.job is None:
        return LockstepError(f"the pipeline failed when rerun at {rev}", "see its output above")
    return LockstepError(ended.error, "the other revisions were judged")


@dataclass
class Outcome:
    """One revision of `rerun_all`: its verdict or its error, and where it ran."""

    rev: str
    verdict: Verdict | None = None
    error: LockstepError | None = None
    ended: executor.Ended | None = None
    # The revision whose run this is, when another revision naming the same commit ran.
    same_as: str = ""

    def standing_for(self, rev: str) -> Outcome:
        """This outcome, reported for `rev`, which names the same commit."""
        verdict = dataclasses.replace(self.verdict, rev=rev) if self.verdict else None
        return dataclasses.replace(self, rev=rev, verdict=verdict, same_as=self.rev)


def forced(past: replay.Replay) -> Run:
    """The container that reproduces the whole pipeline in the revision's worktree."""
    # The worktree's .git points at the host's repository, which the container cannot
    # see; DVC needs no git to reproduce, so tell it not to look.
    dvcconfig.no_scm(past.tree)
    return past.container(["dvc", "repro", "--force"], where="rerun")


def judged(settings: Settings, past: replay.Replay, tolerance: float | None, here: dict) -> Verdict:
    """The verdict on a rerun that ended in `past`'s worktree, on a machine of facts `here`."""
    verdict = compare(settings.root, past.commit, past.tree, past.rev, past.image_id, tolerance)
    verdict.environment = facts.environment(past, here)
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


def compare(root: Path, commit: str, tree: Path, rev: str, image_id: str, tolerance) -> Verdict:
    """Compare the rerun in `tree` with what was committed at `commit`."""
    replay.ran_in_its_tree(tree, rev)
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
