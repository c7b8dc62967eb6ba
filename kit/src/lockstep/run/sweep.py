"""`invoke sweep`: a grid of params, each point a DVC experiment run in the pinned image.

The params are DVC's experiment syntax (`-S train.C=0.1,1 -S evaluate.threshold=0.5`), and
the grid is DVC's own: its Hydra sweeper, as `dvc exp run --queue` expands it. Each point
runs in a worktree of the current commit with its overrides applied (DVC's `apply_overrides`),
in the image `invoke repro` uses, on the executor (a Slurm job array, or one after another
here). The worktrees share the project's DVC cache, so a stage no override touches is restored
from DVC's run cache rather than run again.

Once a point's run succeeds, its lineage (the image, environment, the machine it ran on and the
Slurm job) goes into its worktree, and `dvc exp save` keeps it all as a DVC experiment of the
current commit: `dvc exp show` lists them, `dvc exp apply` brings one into the workspace.
DVC's own queue is not used: its workers run outside the image, with no lineage.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lockstep import dvcconfig, git, shell, workspace
from lockstep.config import Settings
from lockstep.errors import ConfigError, LockstepError, first_line
from lockstep.records import keys, lineage, signing, sources
from lockstep.run import executor, pipeline
from lockstep.runtime import params
from lockstep.share import remote

SYNTAX_HINT = "use DVC's experiment syntax: -S 'train.C=0.1,1' (a file: -S 'params.yaml:train.C=1')"


@dataclass
class Point:
    """One point of the grid: its overrides, and how its run ended."""

    name: str
    overrides: dict[str, list[str]]  # by params file
    ended: executor.Ended | None = None
    error: str = ""

    def row(self) -> str:
        """A line of the sweep's summary: name, where it ran, its params, saved or why not."""
        given = " ".join(item for items in self.overrides.values() for item in items)
        where = self.ended.where() if self.ended else "-"
        outcome = f"ERROR: {self.error}" if self.error else "saved"
        return f"{self.name:26}  {where:26}  {given:36}  {outcome}"


def grid(params: list[str]) -> list[dict[str, list[str]]]:
    """Every combination of the params' values, by params file, as DVC expands a sweep.

    Raises:
        ConfigError: no params, or one DVC cannot read.
    """
    from dvc.utils.cli_parse import to_path_overrides
    from dvc.utils.hydra import get_hydra_sweeps

    if not params:
        raise ConfigError("a sweep needs params to vary", SYNTAX_HINT)
    try:
        return get_hydra_sweeps(to_path_overrides(params))
    except Exception as exc:  # Hydra's parser raises its own errors, DVC others
        raise ConfigError(
            f"cannot read -S {' '.join(params)}: {first_line(exc)}", SYNTAX_HINT
        ) from None


def set_params(args: list[str]) -> list[str]:
    """The params of `invoke sweep -- ARGS`: the values of its -S/--set-param options.

    Raises:
        ConfigError: ARGS hold anything else, or an option without its value.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="invoke sweep --", exit_on_error=False, add_help=False)
    parser.add_argument("-S", "--set-param", action="append", default=[])
    try:
        parsed, unknown = parser.parse_known_args(args)
    except argparse.ArgumentError as exc:
        raise ConfigError(str(exc), SYNTAX_HINT) from None
    if unknown:
        raise ConfigError(f"after --, only -S/--set-param, not {' '.join(unknown)}", SYNTAX_HINT)
    return parsed.set_param


def sweep(
    settings: Settings, args: list[str], *, on: str = "", name: str = "", strict: bool = False
) -> list[Point]:
    """Run each point of the grid `args` give (DVC's -S options) as an experiment.

    `on` is the executor (`lockstep.run.executor.kind`: "" for the project's); see the module
    docstring.
    """
    params, on = set_params(args), executor.kind(settings, on)
    name = name or _default_name()
    points = [Point(f"{name}-{n}", overrides) for n, overrides in enumerate(grid(params), 1)]
    root = settings.root
    with workspace.held(root, "invoke sweep"):
        # The image is built (or found) as for `invoke repro`, under the workspace lock.
        prepared = pipeline.prepare_container(settings, ["repro"], strict=strict)
    base = git.commit(root)
    if git.state(root)[1]:
        shell.say(
            "sweep: the workspace has uncommitted changes; the sweep starts from " + base[:10]
        )
    cache = dvcconfig.cache_dir(root)
    with contextlib.ExitStack() as stack:
        trees = {}
        for point in points:
            tree = stack.enter_context(git.worktree(root, base, executor.folder(settings, on)))
            trees[point.name] = _prepared_tree(settings, base, tree, point, cache)
        runs = {
            # A container of its own per point (a name each: they run side by side).
            point.name: prepared.container.on_tree(trees[point.name]).with_volume(str(cache))
            for point in points
        }
        befores = {point.name: lineage.read_dvc_lock(trees[point.name]) for point in points}
        for point, ended in zip(
            points, executor.run_all(settings, runs, on, array=name), strict=True
        ):
            point.ended, point.error = ended, ended.error
            if not ended.error:
                env = dataclasses.replace(
                    prepared.env,
                    commit=base,
                    dirty=False,
                    machine=ended.facts,
                    job=ended.job,
                    # The point's worktree is `base` checked out: its committed source ran.
                    source_tree=git.tree_id(root, base, sources.SOURCE),
                )
                try:
                    _saved(settings, ended.tree, point.name, befores[point.name], env)
                except LockstepError as exc:
                    point.error = str(exc)
    return points


def _prepared_tree(settings: Settings, base: str, tree: Path, point: Point, cache: Path) -> Path:
    """A worktree with the inputs in, the project's cache, and the point's params (checked)."""
    from dvc.utils.hydra import apply_overrides

    remote.checkout_inputs(settings.root, base, tree, point.name)
    dvcconfig.share_cache(tree, cache)
    # The container sees the worktree, not the repository its .git points at.
    dvcconfig.no_scm(tree)
    for path, overrides in point.overrides.items():
        try:
            apply_overrides(tree / path, overrides)
        except Exception as exc:  # DVC's InvalidArgumentError, or a missing params file
            raise ConfigError(f"{point.name}: {path}: {first_line(exc)}", SYNTAX_HINT) from None
    # Before any job: a value the stages would refuse fails here, in a second, not on a node.
    params.check_with(settings.params, tree / "params.yaml")
    return tree


def _saved(
    settings: Settings, tree: Path, name: str, before: dict, env: lineage.Environment
) -> None:
    """Record the lineage of the stages the run reran in `tree` and save it as an experiment.

    With a signing key configured, the point's run record is signed too, as `invoke exp run`
    signs an experiment's: `invoke verify` checks it at the experiment's commit.
    """
    # Not forced: outputs the point only checked out of the cache (its worktree starts without
    # them) keep the record that made them.
    record = lineage.record_run(tree, before, env)
    save = ["dvc", "exp", "save", "--name", name]
    if record and keys.key_path(settings):
        signing.after_run(dataclasses.replace(settings, root=tree), record)
        save += ["--include-untracked", signing.PATH]
    dvcconfig.no_scm(tree, on=False)
    # The pipeline's outputs only: other DVC-tracked data (say, the base image's packages) is
    # not checked out in the worktree, and unchanged.
    shell.run([*save, "dvc.yaml"], cwd=tree, capture=True, quiet=True)


def _default_name() -> str:
    return "sweep-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
