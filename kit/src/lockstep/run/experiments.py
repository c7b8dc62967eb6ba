"""`invoke exp run`: a DVC experiment, run and recorded as `invoke repro` runs the pipeline.

`dvc exp run` reproduces the pipeline in the workspace, then commits the result as an
experiment: a commit beside the branch, under `refs/exps/<baseline>/<name>`. It runs in the
image exactly as `dvc repro` does (`pipeline.run`); then the lineage that run recorded goes into
the experiment's commit, which is otherwise left as DVC made it. So an experiment, like a
commit of the branch, says which image and environment produced each stage it ran.

Only runs in the workspace: `--queue`, `--run-all` and `--temp` hand the run to DVC's own
workers or to a copy of the workspace, out of the container's reach and the lineage's.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from lockstep import git
from lockstep.config import Settings
from lockstep.errors import ExperimentError
from lockstep.images import sbom
from lockstep.records import lineage, signing
from lockstep.run import pipeline
from lockstep.runtime import params
from lockstep.shell import say

SUBCOMMAND = "run"
# DVC's options that run an experiment away from the workspace, by the name DVC's parser
# gives them.
ELSEWHERE = {"queue": "--queue", "run_all": "--run-all", "tmp_dir": "--temp"}


def run(
    settings: Settings,
    subcommand: str,
    dvc_args: Sequence[str],
    *,
    local: bool = False,
    strict: bool = False,
) -> int:
    """Run `dvc exp run` with `dvc_args` as `invoke repro` runs `dvc repro`; see `pipeline.run`.

    Returns:
        DVC's exit code.

    Raises:
        ConfigError: params.yaml is wrong (`lockstep.runtime.params.check_with`).
        ExperimentError: the subcommand is not `run`, or an option would run it elsewhere.
    """
    params.check_with(settings.params, settings.path("params.yaml"))
    check(subcommand, dvc_args)
    return pipeline.run(
        settings,
        ["exp", SUBCOMMAND, *dvc_args],
        local=local,
        strict=strict,
        recording=lineage_committed,
    )


def check(subcommand: str, dvc_args: Sequence[str]) -> None:
    """Refuse what would not run in the workspace, where lineage is recorded.

    Raises:
        ExperimentError: the subcommand is not `run`, or an option would run it elsewhere.
    """
    if subcommand != SUBCOMMAND:
        raise ExperimentError(
            f"`invoke exp` runs experiments (`exp run`); it has no `exp {subcommand}`",
            f"run `dvc exp {subcommand}` directly: it runs no stage, so it needs no image",
        )
    options = _parsed(dvc_args)
    elsewhere = [flag for name, flag in ELSEWHERE.items() if getattr(options, name, False)]
    if elsewhere:
        raise ExperimentError(
            f"`dvc exp run {elsewhere[0]}` would run outside the image, with no lineage",
            "run experiments one at a time in the workspace: drop " + elsewhere[0],
        )


def _parsed(dvc_args: Sequence[str]) -> argparse.Namespace | None:
    """The arguments as DVC itself reads them (abbreviations included); None if it cannot.

    Arguments DVC cannot read (or `--help`) go to the run unchecked: DVC then says what is
    wrong (or prints its help) before it runs anything.
    """
    from dvc.cli import DvcParserError, parse_args  # heavy; only experiments need it

    sink = io.StringIO()
    # DVC's parser logs its complaint before raising; the run prints it once, so silence it
    # here, whatever handlers DVC's logging has (one may hold a stream closed since).
    parser_log = logging.getLogger("dvc.cli.parser")
    was_disabled, parser_log.disabled = parser_log.disabled, True
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return parse_args(["exp", SUBCOMMAND, *dvc_args])
    except (DvcParserError, SystemExit):
        return None
    finally:
        parser_log.disabled = was_disabled


@contextlib.contextmanager
def lineage_committed(root: Path) -> Iterator[None]:
    """Around a run: put the records it wrote into each experiment commit it made.

    The lineage, the SBOMs of the images it names and the signed run record (when a key
    signed the run): what `invoke diff`, `invoke sbom` and `invoke verify` read at a commit.

    The experiments are those of the current commit whose refs the run created or moved.
    """
    baseline = git.commit(root)
    # As DVC names them: refs/exps/<2 hex digits>/<the rest of the baseline's sha>/<name>.
    prefix = f"refs/exps/{baseline[:2]}/{baseline[2:]}/"
    before = git.refs(root, prefix)
    yield
    made = [ref for ref, sha in git.refs(root, prefix).items() if before.get(ref) != sha]
    if not (root / lineage.PATH).exists():
        return  # no stage has ever run: no lineage to keep
    records = [lineage.PATH, *sorted(p.relative_to(root).as_posix() for p in sbom.kept(root))]
    records += [signing.PATH] if (root / signing.PATH).exists() else []
    for ref in made:
        commit = git.put_files(root, ref, records)
        say(f"experiment {ref.removeprefix(prefix)} ({commit[:7]}) holds the records of its run")
