"""The shim every DVC stage's `main(argv)` shares: parse options, run, report errors in one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lockstep.errors import LockstepError


def parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """An argument parser for a stage, with the --params option every stage takes."""
    summary = doc.strip().splitlines()[0] if doc else module
    result = argparse.ArgumentParser(prog=f"python -m {module}", description=summary)
    result.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file")
    return result


def main(
    body: Callable[[argparse.Namespace], None],
    args: argparse.ArgumentParser,
    argv: Sequence[str] | None,
) -> int:
    """Run a stage body; a LockstepError becomes one line on stderr and its exit code."""
    try:
        body(args.parse_args(argv))
    except LockstepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0
