"""`invoke refresh`: re-fit the champion on newer data; say whether it is worth a release.

The champion is the released model: the newest git tag `<prefix><N>` (`model/v3`), with its
lineage and image. A refresh replays the champion (`lockstep.history.replay`: its recorded image, a
temporary worktree), moves the data window to the newest month and re-fits the challenger there
with the champion's code in the champion's image, saved as a DVC experiment; the user's branch and
working tree are never touched. Both models are then scored on the same most recent
out-of-time months, `lockstep.refresh.decision` decides, and `lockstep.refresh.report` writes
the report and the exit code a scheduler reads.

Which params move the window, which outputs are the model and the data, and how to score a
model are the project's: `[tool.lockstep.refresh]` in pyproject.toml.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, replace
from pathlib import Path

from lockstep import dvcconfig, git, paths, shell, workspace, yamltext
from lockstep.config import RefreshSettings, Settings
from lockstep.engines import Engine
from lockstep.errors import ConfigError, LockstepError
from lockstep.files import atomic_write
from lockstep.history.replay import Replay, ran_in_its_tree, replay
from lockstep.records import lineage, sources
from lockstep.refresh import champion, decision, report, result
from lockstep.runtime import months, params


@dataclass(frozen=True)
class Challenger:
    """The model a refresh fits: a DVC experiment on newer data, scored on the holdout."""

    experiment: str
    as_of: str
    holdout: list[str]


@workspace.exclusive("invoke refresh")
def refresh(
    settings: Settings, engine: Engine, *, as_of: str = "", promote: bool = False
) -> result.Refresh:
    """Run a refresh and write its report; return what it found."""
    root, cfg = settings.root, settings.refresh
    if cfg.missing():
        raise ConfigError(
            f"[tool.lockstep.refresh] {', '.join(cfg.missing())}: not set",
            "a refresh needs the project's data window, model and scoring command: "
            "see the README's Scheduled refresh section",
        )
    rule = params.load(root / "params.yaml", "refresh", decision.Decision)
    tag, version = champion.latest(root, cfg.tag_prefix)
    commit = git.resolve(root, tag)
    champion_params = yamltext.load(git.show(root, commit, "params.yaml"))
    champion_as_of = lookup(champion_params, cfg.window)
    target = as_of or months.previous()
    try:
        months.index(target)
    except ValueError:
        raise LockstepError(f"--as-of {target!r} is not a month", "write it as YYYY-MM") from None
    if months.index(target) <= months.index(champion_as_of):
        reason = f"no new data since the champion: its {cfg.window} is {champion_as_of}"
        return report.publish(
            root,
            result.Refresh(
                param=cfg.window,
                champion=result.Model(champion_as_of, tag=tag, commit=commit),
                challenger=result.Model(target),
                decision=decision.NO_ACTION,
                reason=reason,
                exit_code=report.NO_ACTION_CODE,
            ),
        )
    holdout = months.last(target, int(lookup(champion_params, cfg.holdout)))
    challenger = Challenger(f"challenger-{target}", target, holdout)
    with replay(settings, engine, tag) as past:
        champ, chall = fit_and_score(past, challenger)
        outcome = decision.compare(champ, chall, rule, keys=cfg.keys, outcome=cfg.outcome)
        promoted = None
        if promote and outcome.recommended:
            promoted = champion.promote(past.tree, f"{cfg.tag_prefix}{version + 1}")
    found = result.Refresh(
        param=cfg.window,
        champion=result.Model(champion_as_of, tag=tag, commit=commit, image_id=past.image_id),
        challenger=result.Model(target, experiment=challenger.experiment, image_id=past.image_id),
        decision=outcome.decision,
        reason=outcome.reason,
        exit_code=report.RELEASE_CODE if outcome.recommended else report.NO_ACTION_CODE,
        holdout_months=tuple(holdout),
        comparison=outcome,
        promoted=promoted,
    )
    return report.publish(root, found)


def lookup(data: dict, dotted: str):
    """A value from nested params by its dotted key."""
    for part in dotted.split("."):
        data = data[part]
    return data


def fit_and_score(past: Replay, challenger: Challenger):
    """In the champion's image: fit the challenger, then score both; save it as a DVC experiment.

    Returns:
        The champion's and the challenger's scores on the holdout, as data frames.
    """
    from dvc.utils.hydra import apply_overrides  # what `dvc exp run --set-param` uses

    root, tree, cfg = past.settings.root, past.tree, past.settings.refresh
    cache = dvcconfig.cache_dir(root)
    dvcconfig.share_cache(tree, cache)
    fetch_champion_model(root, past.commit, cfg.model, tree / paths.REFRESH_WORK / "champion.pkl")
    apply_overrides(tree / "params.yaml", [f"{cfg.window}={challenger.as_of}"])
    script = " && ".join(
        [
            "dvc repro",
            score_command(cfg, f"{paths.REFRESH_WORK}/champion.pkl", "champion", challenger),
            score_command(cfg, cfg.model, "challenger", challenger),
        ]
    )
    # At the worktree's own path: its .git file names the repository by its host path. The
    # champion's code runs here, so the repository is read-only (no hook or config can be
    # planted for the host's git to run), and so is the worktree's .git file (it cannot be
    # pointed at a repository of the container's making). The experiment is saved afterwards,
    # on the host, by DVC itself.
    run = (
        past.container(["sh", "-c", script], where="refresh", workdir=str(tree))
        .with_volume(str(root / ".git"), mode="ro")
        .with_volume(str(tree / ".git"), mode="ro")
        .with_volume(str(cache))
    )
    before = lineage.read_dvc_lock(tree)
    if run.start() != 0:
        raise LockstepError("the challenger's pipeline failed", "see its output above")
    ran_in_its_tree(tree, past.rev)
    # The champion's committed source ran (the worktree is its commit checked out).
    source = git.tree_id(root, past.commit, sources.SOURCE)
    env = replace(past.run.environment, commit=past.commit, dirty=True, source_tree=source)
    # A plain `dvc repro`, not forced: the stages it ran are those whose entries changed.
    lineage.record_run(tree, before, env)
    # The pipeline's outputs only: other .dvc-tracked data (the base's .deb files) is not
    # checked out in a replay and is not the challenger's.
    experiment = ["dvc", "exp", "save", "--force", "--name", challenger.experiment, "dvc.yaml"]
    shell.run(experiment, cwd=tree)
    import pandas as pd

    work = tree / paths.REFRESH_WORK
    return pd.read_parquet(work / "champion.parquet"), pd.read_parquet(work / "challenger.parquet")


def score_command(cfg: RefreshSettings, model: str, name: str, challenger: Challenger) -> str:
    """The project's scoring command for one model, on the holdout months."""
    return cfg.score.format(
        model=shlex.quote(model),
        data=shlex.quote(cfg.data),
        months=",".join(challenger.holdout),
        out=shlex.quote(f"{paths.REFRESH_WORK}/{name}.parquet"),
    )


def fetch_champion_model(root: Path, commit: str, path: str, target: Path) -> None:
    """The champion's model file, from the DVC cache or remote, checked against its dvc.lock.

    A model is a pickle, and loading a pickle runs code: only the bytes the champion's
    dvc.lock records may reach the scorer.
    """
    import dvc.api  # heavy; only refreshes need it

    try:
        data = dvc.api.read(path, repo=str(root), rev=commit, mode="rb")
    except Exception as exc:  # DVC raises many kinds; all mean the same here
        raise LockstepError(
            f"the champion's {path} is neither in the DVC cache nor in the remote ({exc})",
            "push the champion's outputs with `dvc push` where they exist",
        ) from None
    recorded = lineage.output_hashes(yamltext.load(git.show(root, commit, "dvc.lock")) or {})
    if hashlib.md5(data).hexdigest() != recorded.get(path):
        raise LockstepError(
            f"the champion's {path} from DVC is not the one its dvc.lock records",
            "the DVC cache or remote holds other bytes under its name: do not use it; "
            "push the champion's outputs again from a checkout that has them",
        )
    atomic_write(target, data)
