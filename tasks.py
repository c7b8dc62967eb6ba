"""Project tasks: `./inv --list` shows them, `./inv --help TASK` explains one.

Tasks are thin: each calls the lockstep library and turns its errors into one line and a
non-zero exit.
"""

import json
import shlex
from pathlib import Path

from invoke import Collection, Exit, task
from lockstep import archive as archives
from lockstep import config, devcontainer, git, lineage, registry
from lockstep import engine as engines
from lockstep import refresh as refreshes
from lockstep import repro as pipeline
from lockstep import rerun as reruns
from lockstep.errors import LockstepError

from benchmarks import bench as benchmarks
from credit_model import params as pipeline_params

ROOT = Path(__file__).resolve().parent


@task(
    help={
        "target": "Dockerfile target: runtime (default) or dev",
        "update-base": "rebuild the Debian base from the live mirror and record its packages",
        "strict": "refuse a base image that differs from docker/base/packages.lock",
    }
)
def build(c, target="runtime", update_base=False, strict=False):
    """Build the pinned image (reused when its inputs have not changed)."""
    _, image = guard(pipeline.build, settings(), target, update_base=update_base, strict=strict)
    print(f"{image.tag}  {image.commit_tag}  {image.id}")
    print(f"fingerprint {image.fingerprint}")


@task
def devcontainer_(c):
    """Build the devcontainer's image (VS Code runs this before opening the container)."""
    tag, image = guard(devcontainer.prepare, settings())
    print(f"{tag}  from {image.tag}  {image.id}")
    print(f"fingerprint {image.fingerprint}")


@task(
    help={
        "local": "run DVC directly in .venv instead of in the image",
        "force": "rerun every stage even when up to date (dvc repro --force)",
        "strict": "refuse a base image that differs from docker/base/packages.lock",
    }
)
def repro(c, local=False, force=False, strict=False):
    """Run the DVC pipeline in its image (DVC arguments after --)."""
    guard(pipeline_params.check, ROOT / "params.yaml")
    args = (["--force"] if force else []) + shlex.split(c.remainder)
    code = guard(pipeline.repro, settings(), args, local=local, strict=strict)
    if code:
        raise Exit(f"dvc repro failed with exit code {code}", code=code)


@task(help={"json": "print the raw record instead of a table"})
def lineage_(c, json_=False):
    """Show which image and environment produced each stage's outputs."""
    record = guard(lineage.read, ROOT / lineage.PATH)
    print(json.dumps(record, indent=2, sort_keys=True) if json_ else lineage.table(record))


@task
def push(c):
    """Push the recorded images to the registry and record their digests."""
    pushed = guard(registry.push_recorded, settings(), engine())
    for image_id, digest in pushed.items():
        print(f"{image_id}  {digest}")


@task(help={"rev": "git revision whose recorded images to pull"})
def pull(c, rev):
    """Pull the images a revision recorded, by digest, checking their ids."""
    for image_id in guard(registry.pull_recorded, settings(), engine(), rev):
        print(image_id)


@task
def archive(c):
    """Store the recorded images in the DVC remote (reruns need no registry)."""
    for dvc_file in guard(archives.save_recorded, settings(), engine()):
        print(f"{dvc_file.relative_to(ROOT)}  (commit it)")


@task(
    help={
        "rev": "revisions, space-separated: tags, branches, commits, or tag globs ('model/*')",
        "tolerance": "accept metric differences up to this absolute value",
    }
)
def rerun(c, rev, tolerance=None):
    """Rerun past results in their recorded images and verify them."""
    revs = [name for word in rev.split() for name in guard(git.expand, ROOT, word)]
    limit = float(tolerance) if tolerance is not None else None
    failed = []
    for name in revs:
        verdict = guard(reruns.rerun, settings(), engine(), name, tolerance=limit)
        print(verdict.table() + "\n")
        if not verdict.identical(limit):
            failed.append(name)
    if failed:
        raise Exit(f"not reproduced: {', '.join(failed)}", code=1)
    print(f"reproduced: {', '.join(revs)}")


@task(
    help={
        "as-of": "newest month of data to re-fit on (default: last complete month)",
        "promote": "tag the challenger as the next champion when a release is recommended",
    }
)
def refresh(c, as_of="", promote=False):
    """Re-fit the champion on new data; exit 3 when a release is recommended."""
    report = guard(refreshes.refresh, settings(), engine(), as_of=as_of, promote=promote)
    print(f"{report['decision']}: {report['reason']}")
    print(f"report: {refreshes.REPORT_DIR}/report.md")
    if report.get("promoted"):
        print(f"promoted: {report['promoted']}")
    raise Exit(code=report["exit_code"])


@task(help={"quick": "a small version: one cold build each, a smaller extract, fewer runs"})
def bench(c, quick=False):
    """Benchmark the kit against the naive Poetry-in-Docker recipe and native runs."""
    results = guard(benchmarks.run, benchmarks.QUICK if quick else benchmarks.FULL, source=ROOT)
    print(benchmarks.table(results))
    print(f"results written to {benchmarks.RESULTS.relative_to(ROOT)}")


@task(help={"unit": "only the fast unit tests (no Docker)", "k": "only tests matching this"})
def test(c, unit=False, k=""):
    """Run the test suite (Docker tests included unless --unit)."""
    target = "tests/unit" if unit else "tests"
    select = f" -k {shlex.quote(k)}" if k else ""
    c.run(f"pytest {target}{select}", echo=True, pty=False)


@task
def lint(c):
    """Check style: ruff check and ruff format --check."""
    c.run("ruff check .", echo=True)
    c.run("ruff format --check .", echo=True)


@task(name="format")
def format_(c):
    """Fix what ruff can fix, then format the code."""
    c.run("ruff check --fix .", echo=True)
    c.run("ruff format .", echo=True)


def settings():
    """The kit settings of this project."""
    return guard(config.load, ROOT)


def engine():
    """The docker CLI the kit uses."""
    return guard(engines.find, settings().docker_cli())


def guard(func, *args, **kwargs):
    """Call a kit function; a LockstepError ends the task with its one-line message.

    Ctrl-C ends it too: the kit has already removed its containers and worktrees.
    """
    try:
        return func(*args, **kwargs)
    except LockstepError as exc:
        raise Exit(f"error: {exc}", code=exc.exit_code) from None
    except KeyboardInterrupt:
        raise Exit("interrupted: nothing was left running; rerun to continue", code=130) from None


namespace = Collection(
    build, repro, push, pull, archive, rerun, refresh, bench, test, lint, format_
)
namespace.add_task(lineage_, name="lineage")
namespace.add_task(devcontainer_, name="devcontainer")
