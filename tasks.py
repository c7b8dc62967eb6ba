"""Project tasks: `./inv --list` shows them, `./inv --help TASK` explains one."""

from invoke import Collection, Exit, task

from credit_model import params as pipeline_params
from lockstep.errors import LockstepError


@task(help={"force": "rerun every stage even when up to date", "stage": "run only this stage"})
def repro(c, force=False, stage=""):
    """Run the DVC pipeline in the locked environment."""
    guard(pipeline_params.check, "params.yaml")
    args = " ".join(filter(None, ["--force" if force else "", stage]))
    c.run(f"dvc repro {args}".strip(), echo=True, pty=False)


@task(
    help={
        "unit": "only the fast unit tests (no Docker)",
        "k": "only tests matching this expression",
    }
)
def test(c, unit=False, k=""):
    """Run the test suite."""
    target = "tests/unit" if unit else "tests"
    select = f" -k '{k}'" if k else ""
    c.run(f"pytest {target}{select}", echo=True, pty=False)


@task
def lint(c):
    """Check code style: ruff check and ruff format --check."""
    c.run("ruff check .", echo=True)
    c.run("ruff format --check .", echo=True)


@task(name="format")
def format_(c):
    """Fix what ruff can fix and format the code."""
    c.run("ruff check --fix .", echo=True)
    c.run("ruff format .", echo=True)


def guard(func, *args):
    """Call a kit function; a LockstepError ends the task with its one-line message."""
    try:
        return func(*args)
    except LockstepError as exc:
        raise Exit(f"error: {exc}", code=exc.exit_code) from None


namespace = Collection(repro, test, lint, format_)
