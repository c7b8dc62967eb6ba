"""The stage shim: a --params option for every stage, kit errors as one line and an exit code."""

from __future__ import annotations

from pathlib import Path

from lockstep.errors import ParamsError
from lockstep.runtime import stage


def test_the_parser_takes_its_description_from_the_docstring_and_defaults_params() -> None:
    parser = stage.parser("pkg.stages.train", "Train the model.\n\nMore detail.")
    assert parser.prog == "python -m pkg.stages.train"
    assert parser.description == "Train the model."
    assert parser.parse_args([]).params == Path("params.yaml")
    assert stage.parser("pkg.stages.x", None).description == "pkg.stages.x"


def test_a_successful_body_returns_zero_and_sees_the_options() -> None:
    seen = []
    parser = stage.parser("m", "doc")
    assert stage.main(lambda args: seen.append(args.params), parser, ["--params", "p.yaml"]) == 0
    assert seen == [Path("p.yaml")]


def test_a_kit_error_becomes_one_line_and_its_exit_code(capsys) -> None:
    def body(args):
        raise ParamsError("train.seed must be an integer", "fix params.yaml")

    assert stage.main(body, stage.parser("m", "doc"), []) == ParamsError.exit_code
    assert capsys.readouterr().err == "error: train.seed must be an integer; fix params.yaml\n"
