"""`invoke refresh`: re-fit the champion on newer data; say whether it is worth a release.

The champion is the released model: the newest git tag `<prefix><N>` (`model/v3`), with its
lineage and image. A refresh checks the champion out in a temporary worktree, moves the data
window (`ingest.as_of`) to the newest month and re-fits the challenger as a DVC experiment there,
with the champion's code in the champion's recorded image; the user's branch and working tree
are never touched. Both models are then scored on the same most recent out-of-time months, and
the decision compares the primary metric: a release is recommended only when the lower bound of
a paired, seeded bootstrap confidence interval on the gain reaches `min_gain`, so a noisy gain
never triggers one. The report goes to `reports/refresh/` (markdown and JSON), and the exit
status tells a scheduler what to do.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from lockstep import config, git, lineage, months, params, repro, rerun, shell
from lockstep.config import Settings
from lockstep.containers import Run
from lockstep.engine import Engine
from lockstep.errors import LockstepError, RevisionError
from lockstep.files import atomic_write
from lockstep.params import InvalidParam

if TYPE_CHECKING:
    # Imported where used: they take about 0.4 s to load, and every `./inv` task imports this
    # module through tasks.py.
    import numpy as np
    import pandas as pd

NO_ACTION, RELEASE_RECOMMENDED = 0, 3
REPORT_DIR = "reports/refresh"
WORK = ".lockstep/refresh"


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """AUC by the rank-sum formula, ties averaged."""
    import pandas as pd

    ranks = pd.Series(p).rank(method="average").to_numpy()
    positives = y.sum()
    negatives = len(y) - positives
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    import numpy as np

    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _brier(y: np.ndarray, p: np.ndarray) -> float:
    import numpy as np

    return float(np.mean((p - y) ** 2))


# name -> (metric of (outcome, probability), whether higher is better)
METRICS = {"auc": (_roc_auc, True), "brier": (_brier, False), "log_loss": (_log_loss, False)}


@dataclass(frozen=True)
class Decision:
    """The `refresh` section of params.yaml: how a challenger must beat the champion."""

    primary_metric: str
    min_gain: float
    bootstrap: int
    confidence: float
    seed: int
    min_events: int

    def __post_init__(self) -> None:
        if self.primary_metric not in METRICS:
            raise InvalidParam("primary_metric", f"one of {', '.join(METRICS)}")
        if not 0 < self.confidence < 1:
            raise InvalidParam("confidence", "a number between 0 and 1")
        if self.bootstrap < 100:
            raise InvalidParam("bootstrap", "at least 100 resamples")
        if self.min_events < 1:
            raise InvalidParam("min_events", "a positive integer")


class WindowTooSmall(LockstepError):
    """The holdout has too few events to compare two models."""


def refresh(settings: Settings, engine: Engine, *, as_of: str = "", promote: bool = False) -> dict:
    """Run a refresh and write its report; return the report."""
    root, cfg = settings.root, settings.refresh
    decision = params.load(root / "params.yaml", "refresh", Decision)
    tag, version = champion(root, cfg.tag_prefix)
    commit = git.resolve(root, tag)
    champion_params = yaml.safe_load(git.show(root, commit, "params.yaml"))
    champion_as_of = lookup(champion_params, cfg.window)
    target = as_of or months.previous()
    try:
        months.index(target)
    except ValueError:
        raise LockstepError(f"--as-of {target!r} is not a month", "write it as YYYY-MM") from None
    report = {
        "champion": {"tag": tag, "commit": commit, cfg.window: champion_as_of},
        "challenger": {cfg.window: target},
    }
    if months.index(target) <= months.index(champion_as_of):
        reason = f"no new data since the champion: its {cfg.window} is {champion_as_of}"
        return publish(root, {**report, "decision": "no action", "reason": reason}, NO_ACTION)
    record = lineage.read_at(root, commit)
    image_id, entry = rerun.recorded_image(record, tag)
    rerun.obtain(settings, engine, image_id, entry, revs=[None, commit])
    holdout = months.last(target, int(lookup(champion_params, cfg.holdout)))
    with git.worktree(root, commit) as tree:
        experiment = f"challenger-{target}"
        fit_and_score(settings, engine, tree, image_id, entry, commit, experiment, target, holdout)
        import pandas as pd

        champ = pd.read_parquet(tree / WORK / "champion.parquet")
        chall = pd.read_parquet(tree / WORK / "challenger.parquet")
        outcome = compare(champ, chall, decision)
        report["window"] = {"holdout_months": holdout, **outcome.pop("window")}
        report["champion"].update(image_id=image_id, metrics=outcome.pop("champion_metrics"))
        report["challenger"].update(
            experiment=experiment, image_id=image_id, metrics=outcome.pop("challenger_metrics")
        )
        report.update(outcome)
        code = RELEASE_RECOMMENDED if report["decision"] == "release recommended" else NO_ACTION
        if promote and code == RELEASE_RECOMMENDED:
            report["promoted"] = promote_challenger(root, tree, f"{cfg.tag_prefix}{version + 1}")
    return publish(root, report, code)


def champion(root: Path, prefix: str) -> tuple[str, int]:
    """The newest champion tag and its version number."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)$")
    found = [
        (int(match.group(1)), tag)
        for tag in shell.output(["git", "tag", "--list", f"{prefix}*"], cwd=root).splitlines()
        if (match := pattern.match(tag))
    ]
    if not found:
        raise RevisionError(
            f"no champion yet: no tag {prefix}<N>",
            f"tag the released model's commit: git tag {prefix}1 <commit>",
        )
    version, tag = max(found)
    return tag, version


def lookup(data: dict, dotted: str):
    """A value from nested params by its dotted key."""
    for part in dotted.split("."):
        data = data[part]
    return data


def fit_and_score(settings, engine, tree, image_id, entry, commit, experiment, target, holdout):
    """In the champion's image: fit the challenger as a DVC experiment, then score both."""
    root, cfg = settings.root, settings.refresh
    shell.run(["dvc", "cache", "dir", "--local", root / ".dvc" / "cache"], cwd=tree, capture=True)
    fetch_champion_model(root, commit, cfg.model, tree / WORK / "champion.pkl")
    months_arg = ",".join(holdout)
    score = {
        name: cfg.score.format(
            model=shlex.quote(model),
            data=shlex.quote(cfg.data),
            months=months_arg,
            out=shlex.quote(f"{WORK}/{name}.parquet"),
        )
        for name, model in (("champion", f"{WORK}/champion.pkl"), ("challenger", cfg.model))
    }
    script = " && ".join(
        [
            f"dvc exp run --force --name {experiment} --set-param {cfg.window}={target}",
            score["champion"],
            score["challenger"],
        ]
    )
    tree_settings = dataclasses.replace(config.load(tree), workdir=str(tree))
    run = Run(tree_settings, engine, image_id, ["sh", "-c", script])
    # DVC experiments are git commits: the worktree's repository and cache must be visible
    # at the paths its .git file and config name.
    run.with_volume(str(root / ".git")).with_volume(str(root / ".dvc" / "cache"))
    if run.with_env(LOCKSTEP_WHERE="refresh").start() != 0:
        raise LockstepError("the challenger experiment failed", "see its output above")
    stages = repro.ran_stages(run.output, succeeded=True)
    env = lineage.Environment(
        where="container",
        image_id=image_id,
        image_tag=entry.get("image_tag"),
        registry_digest=entry.get("registry_digest"),
        registry_repository=entry.get("registry_repository"),
        fingerprint=entry["fingerprint"],
        lock_sha256=entry["lock_sha256"],
        base_image=entry.get("base_image"),
        commit=commit,
        dirty=True,
        dvc_version=entry["dvc_version"],
        python_version=entry["python_version"],
    )
    lineage.update(tree, stages, env, lineage.read_dvc_lock(tree))


def fetch_champion_model(root: Path, commit: str, path: str, target: Path) -> None:
    """The champion's model file, from the DVC cache or remote."""
    import dvc.api  # heavy; only refreshes need it

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        atomic_write(target, dvc.api.read(path, repo=str(root), rev=commit, mode="rb"))
    except Exception as exc:  # DVC raises many kinds; all mean the same here
        raise LockstepError(
            f"the champion's {path} is neither in the DVC cache nor in the remote ({exc})",
            "push the champion's outputs with `dvc push` where they exist",
        ) from None


def compare(champ: pd.DataFrame, chall: pd.DataFrame, decision: Decision) -> dict:
    """Both models' metrics on the same rows, the gain and its bootstrap interval, the decision."""
    rows = champ.merge(chall, on=["application_id", "month", "outcome"], suffixes=("_a", "_b"))
    if len(rows) != len(champ) or len(rows) != len(chall):
        raise LockstepError("champion and challenger scored different rows", "report this bug")
    y = rows["outcome"].to_numpy().astype(float)
    a, b = rows["probability_a"].to_numpy(), rows["probability_b"].to_numpy()
    events = int(y.sum())
    if min(events, len(y) - events) < decision.min_events:
        raise WindowTooSmall(
            f"window too small to compare: {events} defaults and {len(y) - events} others in "
            f"the holdout, fewer than min_events={decision.min_events}",
            "wait for more months of data, or lower refresh.min_events in params.yaml",
        )
    metric, higher = METRICS[decision.primary_metric]
    sign = 1.0 if higher else -1.0
    gain = sign * (metric(y, b) - metric(y, a))
    low, high = bootstrap(y, a, b, metric, sign, decision)
    recommended = low >= decision.min_gain
    name = decision.primary_metric
    reason = (
        f"{name} gain {gain:+.4f}, {decision.confidence:.0%} interval [{low:+.4f}, {high:+.4f}]; "
        f"its lower bound is {'at least' if recommended else 'below'} the minimum gain "
        f"{decision.min_gain:+.4f}"
    )
    return {
        "window": {"rows": len(y), "defaults": events},
        "champion_metrics": {k: round(f(y, a), 6) for k, (f, _) in METRICS.items()},
        "challenger_metrics": {k: round(f(y, b), 6) for k, (f, _) in METRICS.items()},
        "primary_metric": name,
        "gain": round(gain, 6),
        "interval": [round(low, 6), round(high, 6)],
        "confidence": decision.confidence,
        "min_gain": decision.min_gain,
        "decision": "release recommended" if recommended else "no action",
        "reason": reason,
    }


def bootstrap(y, a, b, metric, sign: float, decision: Decision) -> tuple[float, float]:
    """Paired percentile interval of the gain: both models scored on the same resampled rows."""
    import numpy as np

    rng = np.random.default_rng(decision.seed)
    gains = []
    for _ in range(decision.bootstrap):
        idx = rng.integers(0, len(y), len(y))
        if 0 < y[idx].sum() < len(idx):
            gains.append(sign * (metric(y[idx], b[idx]) - metric(y[idx], a[idx])))
    tail = (1 - decision.confidence) / 2 * 100
    low, high = np.percentile(gains, [tail, 100 - tail])
    return float(low), float(high)


def promote_challenger(root: Path, tree: Path, tag: str) -> str:
    """Commit the challenger's results in the worktree (not on any branch) and tag them."""
    identity = (
        []
        if shell.output(["git", "config", "user.name"], check=False, cwd=root)
        else ["-c", "user.name=lockstep", "-c", "user.email=lockstep@localhost"]
    )
    shell.run(["git", "add", "--all", "."], cwd=tree)
    shell.run(
        ["git", *identity, "commit", "--quiet", "-m", f"Challenger promoted to {tag}"], cwd=tree
    )
    shell.run(["git", "tag", tag, "HEAD"], cwd=tree)
    return tag


def publish(root: Path, report: dict, code: int) -> dict:
    """Write report.json and report.md under reports/refresh/; add the exit code."""
    report = {**report, "exit_code": code}
    folder = root / REPORT_DIR
    atomic_write(
        folder / "report.json", (json.dumps(report, indent=2, sort_keys=True) + "\n").encode()
    )
    atomic_write(folder / "report.md", markdown(report).encode())
    return report


def markdown(report: dict) -> str:
    """The report for people."""
    champ, chall = report["champion"], report["challenger"]
    lines = [
        f"# Model refresh: {report['decision']}",
        "",
        report["reason"],
        "",
        f"- champion: `{champ['tag']}` ({champ['commit'][:10]}), "
        f"image `{champ.get('image_id', '-')}`",
        f"- challenger: experiment `{chall.get('experiment', '-')}`, "
        f"image `{chall.get('image_id', '-')}`",
    ]
    if "window" in report:
        window = report["window"]
        lines += [
            f"- holdout: {', '.join(window['holdout_months'])} ({window['rows']} rows, "
            f"{window['defaults']} defaults)",
            "",
            "| metric | champion | challenger |",
            "|---|---|---|",
        ]
        lines += [
            f"| {name} | {champ['metrics'][name]:.6f} | {chall['metrics'][name]:.6f} |"
            for name in champ["metrics"]
        ]
    if report.get("promoted"):
        lines += ["", f"Promoted: `{report['promoted']}`."]
    return "\n".join(lines) + "\n"
