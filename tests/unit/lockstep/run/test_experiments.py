"""What `invoke exp` refuses before it runs anything, read as DVC's own parser reads it."""

from __future__ import annotations

import io
import logging

import pytest
from lockstep.errors import ExperimentError
from lockstep.run import experiments


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--queue"], "--queue"),
        (["-S", "train.seed=8", "--que"], "--queue"),  # argparse takes abbreviations
        (["--run-all", "-j", "2"], "--run-all"),
        (["--temp", "-n", "x"], "--temp"),
    ],
)
def test_options_that_run_elsewhere_are_refused(args, flag) -> None:
    with pytest.raises(ExperimentError, match=f"`dvc exp run {flag}` would run outside") as exc:
        experiments.check("run", args)
    assert str(exc.value).endswith(f"drop {flag}")


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["-S", "train.seed=8", "-n", "seed-8", "--force"],
        ["-m", "--queue"],  # a message, not the option
        ["--dry"],  # DVC runs nothing
        ["--no-such-option"],  # DVC itself says what is wrong
        ["--help"],  # DVC prints its help
    ],
)
def test_runs_in_the_workspace_pass(args) -> None:
    experiments.check("run", args)


def test_other_subcommands_point_to_dvc() -> None:
    with pytest.raises(ExperimentError, match=r"no `exp show`; run `dvc exp show` directly"):
        experiments.check("show", [])


def test_arguments_dvc_refuses_pass_even_when_dvcs_logging_holds_a_closed_stream() -> None:
    # As after another in-process DVC command whose captured output is gone: DVC's handler
    # raises on its closed stream, so its parser's complaint must not reach it.
    from dvc.logger import LoggerHandler

    stream = io.StringIO()
    handler = LoggerHandler(stream)
    logging.getLogger("dvc").addHandler(handler)
    stream.close()
    try:
        experiments.check("run", ["--no-such-option"])
        experiments.check("run", ["-m"])
    finally:
        logging.getLogger("dvc").removeHandler(handler)
