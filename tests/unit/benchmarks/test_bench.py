"""benchmarks/bench.py without Docker: its recording engine knows the kit's main build by meaning.

Whatever the order of the kit's arguments: the subcommand and the --progress option decide.
"""

from __future__ import annotations

import pytest

from tests.support import benchmark

# Prints its arguments, as `docker` would run them.
DOCKER = '#!/bin/sh\necho "$@"\n'


@pytest.fixture(scope="module")
def bench():
    with benchmark.imported() as module:
        yield module


@pytest.mark.parametrize(
    ("args", "main"),
    [
        (("build", "--progress=plain", "-f", "Dockerfile", "-t", "img", "."), True),
        (("build", "-f", "Dockerfile", "--progress", "plain", "-t", "img", "."), True),
        (("build", "-t", "img", "--target", "runtime", ".", "--progress=plain"), True),
        (("build", "--quiet", "-t", "img", "-"), False),
        (("build", "--progress=tty", "-t", "img", "."), False),
        (("run", "--progress=plain", "img"), False),
        ((), False),
    ],
)
def test_the_main_build_is_known_by_its_subcommand_and_progress(bench, args, main) -> None:
    assert bench.main_build(args) is main


def test_the_main_build_gets_the_extra_arguments_and_is_recorded(bench, tmp_path) -> None:
    cli = tmp_path / "docker"
    cli.write_text(DOCKER)
    cli.chmod(0o755)
    engine = bench.RecordingEngine(str(cli), build_args=("--no-cache",))

    engine.run("build", "-t", "img", "--progress", "plain", ".", tee=True)
    other = engine.run("build", "--quiet", "-t", "small", "-", capture=True)

    assert engine.logs == ["build --no-cache -t img --progress plain .\n"]
    assert other.stdout == "build --quiet -t small -\n"
