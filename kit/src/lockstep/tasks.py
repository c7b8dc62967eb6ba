"""The kit's invoke tasks, as a collection that a project's `tasks.py` extends.

    from pathlib import Path

    from lockstep.tasks import collection

    namespace = collection(Path(__file__).resolve().parent)
    namespace.add_task(my_task)  # the project's own tasks, if any

`./inv --list` shows them, `./inv --help TASK` explains one. Tasks are thin: each calls the kit
and turns its errors into one line and a non-zero exit.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from invoke import Collection, Context, Exit, task
from lockstep import config, engines, files, paths, shell
from lockstep.errors import LockstepError

# Each task imports the kit modules it needs when it runs: importing them all costs a tenth of
# a second, on every task and on `--list`, most of it in modules that one task alone uses.
if TYPE_CHECKING:
    from lockstep.config import Settings
    from lockstep.engines import Engine


def collection(root: Path) -> Collection:
    """The kit's tasks for the project at `root`, with their defaults in one place."""
    namespace = Collection(build, repro, exp, push, publish, pull, gate, lock, test, lint, format_)
    if config.refresh_configured(root):
        # The champion/challenger refresh needs the project's data window and scoring command.
        namespace.add_task(refresh)
    namespace.add_task(lineage_, name="lineage")
    namespace.add_task(sbom_, name="sbom")
    namespace.add_task(diff_, name="diff")
    namespace.add_task(devcontainer_, name="devcontainer")
    namespace.add_task(rerun_, name="rerun")
    namespace.add_task(sweep_, name="sweep")
    namespace.add_task(verify_, name="verify")
    namespace.add_task(challenge)
    namespace.add_task(keygen)
    namespace.configure({"lockstep": {"root": str(root)}})
    return namespace


@task(
    help={
        "target": "Dockerfile target: runtime (default) or dev",
        "update-base": "rebuild the Debian base from the live mirror and record its packages",
        "strict": "refuse a base image that differs from docker/base/packages.lock",
        "plan": "print the image's layers: which distributions share one, and their sizes",
        "check": "build again from empty caches and require the same image id",
    }
)
def build(c, target="runtime", update_base=False, strict=False, plan=False, check=False):
    """Build the pinned image (reused when its inputs have not changed)."""
    from lockstep.images import recorded
    from lockstep.run import pipeline

    _, image = guard(
        pipeline.build,
        session(c).settings,
        target,
        update_base=update_base,
        strict=strict,
        check=check,
    )
    if plan:
        from lockstep.images import layers

        print(layers.table(json.loads(image.labels[layers.LAYERS_LABEL])))
    print(recorded.summary(image.tag, image.commit_tag, image.id, image.fingerprint))


def _variations() -> str:
    from lockstep.images import variations

    listed = "; ".join(f"{v.name}: {v.changes} ({v.how})" for v in variations.VARIATIONS)
    return f"comma-separated variations to apply (default: all): {listed}"


@task(help={"vary": _variations()})
def challenge(c, vary=""):
    """Build the runtime image again where what should not matter differs; require its id.

    Builds from empty caches in a child process (uv's downloads kept: each is checked by its
    hash), varying time zone, locale, SOURCE_DATE_EPOCH, the user's environment, umask, the
    checkout's path, hostname (root), CPUs and file order. Another id: a build with nothing
    varied says whether it is the time; else the variations responsible are found by halves,
    and the first differing layer and file named.
    """
    from lockstep.images import challenge as challenger

    project = session(c)
    image, survived = guard(challenger.challenge, project.settings, project.engine, vary)
    names = ", ".join(v.name for v in survived)
    print(f"challenge: reproducible: {image} again under {len(survived)} variations: {names}")


@task
def devcontainer_(c):
    """Build the devcontainer's image (VS Code runs this before opening the container)."""
    from lockstep.run import devcontainer

    tag, image = guard(devcontainer.prepare, session(c).settings)
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
    from lockstep.run import pipeline

    args = (["--force"] if force else []) + shlex.split(c.remainder)
    code = guard(pipeline.repro, session(c).settings, args, local=local, strict=strict)
    if code:
        raise Exit(f"dvc repro failed with exit code {code}", code=code)


@task(
    positional=["subcommand"],
    help={
        "subcommand": "run: the one DVC experiment command that runs stages",
        "local": "run DVC directly in .venv instead of in the image",
        "strict": "refuse a base image that differs from docker/base/packages.lock",
    },
)
def exp(c, subcommand, local=False, strict=False):
    """Run a DVC experiment in the image: `exp run -- -S train.seed=8 -n my-exp`.

    The arguments after -- are `dvc exp run`'s. The experiment's commit (refs/exps, see
    `dvc exp show`) holds the lineage of the stages it ran. Not with --queue, --run-all or
    --temp, which would run it outside the image.
    """
    from lockstep.run import experiments

    args = shlex.split(c.remainder)
    code = guard(experiments.run, session(c).settings, subcommand, args, local=local, strict=strict)
    if code:
        raise Exit(f"dvc exp run failed with exit code {code}", code=code)


# Where rerun, gate and sweep run their containers.
ON_HELP = "where to run: local or slurm (default: [tool.lockstep.executor] kind)"


@task(
    auto_shortflags=False,
    help={
        "name": "name the experiments NAME-1, NAME-2, ... (default: sweep-DATE-TIME)",
        "on": ON_HELP,
        "strict": "refuse a base image that differs from docker/base/packages.lock",
    },
)
def sweep_(c, name="", on="", strict=False):
    """Run a grid of params as DVC experiments in the image: `sweep -- -S train.C=0.1,1`.

    After --, DVC's experiment params (-S/--set-param, repeated); a value list (`a=1,2`) is
    swept, as `dvc exp run --queue` would. On Slurm the points are one job array. Each point is
    an experiment of the current commit with its lineage (image, machine, job and node):
    `dvc exp show` lists them.
    """
    from lockstep.run import sweep

    project = session(c)
    args = shlex.split(c.remainder)
    points = guard(sweep.sweep, project.settings, args, on=on, name=name, strict=strict)
    print("\n".join(point.row() for point in points))
    guard(
        shell.run,
        ["dvc", "exp", "show", "--no-pager", "--only-changed"],
        cwd=project.root,
        show=True,
    )
    if failed := [point.name for point in points if point.error]:
        raise Exit(f"not saved: {', '.join(failed)}", code=1)


@task(help={"json": "print the raw record instead of a table"})
def lineage_(c, json_=False):
    """Show which image and environment produced each stage's outputs."""
    from lockstep.records import lineage

    record = guard(lineage.read, root(c) / lineage.PATH)
    print(json.dumps(record.to_dict(), indent=2, sort_keys=True) if json_ else record.table())
    problems = lineage.disagreements(record, lineage.read_dvc_lock(root(c)))
    if problems:
        raise Exit(
            f"error: the lineage and dvc.lock disagree: {'; '.join(problems)}; "
            "run `invoke repro --force` to record every stage again",
            code=1,
        )


@task(
    help={
        "rev": "a revision (tag, branch, commit), or `workspace` for the results here",
        "output": "write each document to this folder, as IMAGE.cdx.json, instead of printing",
    }
)
def sbom_(c, rev, output=""):
    """Print the CycloneDX SBOM of the image a result was made in: every package installed."""
    from lockstep.images import sbom as sboms

    project = session(c)
    documents = guard(
        sboms.recorded, project.root, project.engine, "" if rev == "workspace" else rev
    )
    if not output:
        if len(documents) != 1:
            raise Exit(f"error: {len(documents)} images made these results; give --output", 2)
        print(next(iter(documents.values())))
        return
    for image_id, text in documents.items():
        target = Path(output) / sboms.path(Path(), image_id).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + "\n")
        print(target)


@task(
    help={
        "a": "a revision (tag, branch, commit), or `workspace` for the results here",
        "b": "the other revision, or `workspace`",
    }
)
def diff_(c, a, b):
    """Why two results differ: every recorded input compared, the likely causes first."""
    from lockstep.history import explain

    project = session(c)
    print(guard(explain.diff, project.settings, project.engine, a, b).text())


@task
def push(c):
    """Push the recorded images to the registry and record their digests.

    An image a release names (a `model/*` tag's lineage) is also tagged after it in the
    registry (`model/v3` -> `IMAGE:model-v3`): what a validator pulls by name.
    """
    from lockstep.images import registry

    project = session(c)
    pushed = guard(registry.push_recorded, project.settings, project.engine)
    for image_id, digest in pushed.items():
        print(f"{image_id}  {digest}")


@task(
    auto_shortflags=False,
    help={"reruns": "only the signed rerun statements (reports/reruns/): what a validator sends"},
)
def publish(c, reruns=False):
    """Send results, data, images and rerun statements to the DVC remote; say what to commit."""
    from lockstep.share import remote
    from lockstep.share import reruns as statements

    project = session(c)
    if reruns:
        count = guard(statements.publish, project.root)
        print(f"published {count} signed rerun statement(s); commit nothing: the remote holds them")
        return
    changed = guard(remote.publish, project.settings, project.engine)
    print("published; commit " + (" ".join(changed) if changed else "nothing: all was committed"))


@task(help={"rev": "git revision (tag, branch, commit) whose data and images to bring here"})
def pull(c, rev):
    """Bring what a revision needs from the DVC remote: its data, outputs and images."""
    from lockstep.share import remote

    project = session(c)
    for image_id in guard(remote.pull, project.settings, project.engine, rev):
        print(image_id)


# `rerun` and `gate` write the same pages.
HTML_HELP = "also write each verdict as a page, reports/reruns/COMMIT.html, and print its path"
# Long options only: invoke would give --html the short flag -h, which reads as help.


@task(
    auto_shortflags=False,
    help={
        "rev": "revisions, space-separated: tags, branches, commits, or tag globs ('model/*')",
        "tolerance": "accept metric differences up to this absolute value",
        "html": HTML_HELP,
        "on": ON_HELP,
    },
)
def rerun_(c, rev, tolerance=None, html=False, on=""):
    """Rerun past results in their recorded images and verify them."""
    rerun_revisions(c, rev, tolerance, html, on)


@task(
    auto_shortflags=False,
    help={
        "tags": "which releases: a tag glob or revisions, space-separated (default: 'model/*')",
        "tolerance": "accept metric differences up to this absolute value",
        "html": HTML_HELP,
        "on": ON_HELP,
    },
)
def gate(c, tags=config.RELEASES, tolerance=None, html=False, on=""):
    """Rerun every release from what the remotes hold; fail unless each is identical.

    With `[tool.lockstep.validation] quorum = N`, each release must also have N validators'
    signed reruns in the DVC remote (`lockstep.share.reruns.required`).
    """
    revs, limit = rerun_revisions(c, tags, tolerance, html, on)
    project = session(c)
    if project.settings.validation.quorum:
        validated(project, revs, limit)


def validated(project: Session, revs: list[str], limit: float | None) -> None:
    """Each release's quorum of signed reruns, a table each; exit 1 unless every one has it."""
    from lockstep.share import reruns

    needed = project.settings.validation.quorum
    print(f"gate: each release needs {needed} validators' signed reruns (the validation settings)")
    failed = []
    for rev in revs:
        try:
            print(reruns.required(project.settings, project.engine, rev, limit).table() + "\n")
        except LockstepError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed.append(rev)
    if failed:
        raise Exit(f"no quorum: {', '.join(failed)}", code=1)


def rerun_revisions(
    c: Context, words: str, tolerance: str | None, html: bool, on: str
) -> tuple[list[str], float | None]:
    """Rerun each revision and print its verdict; exit 1 unless all are identical.

    One revision that cannot be rerun ends with its one-line error. With several, it is a
    failed row and the others still run (a gate reports every release), and a summary table
    ends the output. Revisions naming one commit are rerun once, and its verdict is each one's
    row (`rerun.rerun_all`). On Slurm every revision is a job, all running at once, and each row
    names its job and node. With `html`, each verdict is also written as a page
    (`lockstep.history.verdict_page`).
    """
    from lockstep import git
    from lockstep.history import rerun, verdict

    project = session(c)
    revs = [name for word in words.split() for name in guard(git.expand, project.root, word)]
    limit = guard(verdict.parse_tolerance, tolerance)
    outcomes = guard(
        rerun.rerun_all, project.settings, project.engine, revs, tolerance=limit, on=on
    )
    rows = []
    # Each verdict as soon as it is judged; an error between them ends the task as guard does.
    while (outcome := guard(next, outcomes, None)) is not None:
        where = outcome.ended.where() if outcome.ended and outcome.ended.job else ""
        if outcome.error:
            if len(revs) == 1:
                raise Exit(f"error: {outcome.error}", code=outcome.error.exit_code)
            print(f"error: {outcome.error}", file=sys.stderr)
            rows.append(verdict.Row(outcome.rev, "", "ERROR", str(outcome.error), where))
            continue
        if outcome.same_as:  # its commit's rerun was printed (signed, paged) for that one
            print(
                f"{outcome.rev}: the commit of {outcome.same_as}, whose rerun above stands for it\n"
            )
            row = outcome.verdict.row(limit)
            row = dataclasses.replace(row, detail=f"{row.detail} (the rerun of {outcome.same_as})")
        else:
            facts = outcome.ended.facts if outcome.ended else None
            row = reported(project, outcome.verdict, limit, html, facts)
        rows.append(dataclasses.replace(row, where=where))
    if len(rows) > 1:
        print(verdict.summary(rows))
    failed = [row.rev for row in rows if row.verdict != "identical"]
    if failed:
        raise Exit(f"not reproduced: {', '.join(failed)}", code=1)
    print(f"reproduced: {', '.join(revs)}")
    return revs, limit


def reported(project: Session, verdict, limit: float | None, html: bool, facts: dict | None):
    """Print a verdict, sign it when a key is configured, write its page; its summary row.

    The signed statement names the machine: this engine, and the probe's `facts` of the rerun.
    """
    from lockstep.history import verdict_page
    from lockstep.records import signing

    print(verdict.table(limit) + "\n")
    attested = verdict.attested(limit)
    signed = guard(
        signing.after_rerun, project.settings, verdict.commit, attested, facts, project.engine
    )
    if signed:
        where = signed.relative_to(project.root)
        print(f"signed this verdict: {where} (`invoke publish --reruns` sends it to the remote)\n")
    if html:
        page = verdict_page.write(project.root, verdict, limit)
        print(f"verdict page: {page.relative_to(project.root)}\n")
    return verdict.row(limit)


@task(
    help={
        "rev": "a revision (tag, branch, commit), or `workspace` for the results here",
        "keys": "trust only the public keys (*.pub.pem) in this folder, not those committed at REV",
        "quorum": "also require N signed reruns of its commit, by N keys of --keys (not the "
        "author's) on N machines",
        "tolerance": "with --quorum: the largest metric tolerance a rerun may have declared",
    }
)
def verify_(c, rev, keys="", quorum=0, tolerance=None):
    """Check a result's signed run record, offline: signature, outputs, lineage and images.

    With `--quorum N`, also the reruns others signed (`lockstep.records.quorum`): a table of
    who reran it, where, when, with which verdict.
    """
    from lockstep.history import verdict
    from lockstep.records import quorum as quorums
    from lockstep.records import verify

    trusted = Path(keys).expanduser().resolve() if keys else None
    where = "" if rev == "workspace" else rev
    project = session(c)
    if not quorum:
        print(guard(verify.verify, project.root, project.engine, where, trusted).summary())
        return
    limit = guard(verdict.parse_tolerance, tolerance)
    checked = guard(
        quorums.verify_quorum, project.root, project.engine, where, int(quorum), trusted, limit
    )
    print(f"{checked[0].summary()}\n\n{checked[1].table()}")


@task(help={"output": "the private key's file (default ~/.config/lockstep/signing-key.pem)"})
def keygen(c, output=""):
    """Make the key that signs run records: the private key outside, the public one in keys/."""
    from lockstep.records import keys

    private, public = guard(keys.keygen, root(c), output)
    print(f"private key: {private} (mode 0600; keep it secret, never commit it)")
    print(f"public key: {public.relative_to(root(c))}: commit it, verification trusts it")
    print(f"sign runs: export {keys.VARIABLE}={private}")
    print(f'  or set signing_key = "{private}" in pyproject.toml\'s [tool.lockstep]')


@task(
    help={
        "as-of": "newest month of data to re-fit on (default: last complete month)",
        "promote": "tag the challenger as the next champion when a release is recommended",
    }
)
def refresh(c, as_of="", promote=False):
    """Re-fit the champion on new data; exit 3 when a release is recommended."""
    from lockstep.refresh import cycle, report

    project = session(c)
    result = guard(cycle.refresh, project.settings, project.engine, as_of=as_of, promote=promote)
    print(f"{result.decision}: {result.reason}")
    print(f"report: {report.REPORT_DIR}/report.md")
    print(f"page: {report.REPORT_DIR}/report.html (open it in a browser)")
    if result.promoted:
        print(f"promoted: {result.promoted}")
    raise Exit(code=result.exit_code)


@task
def lock(c):
    """Re-lock poetry.lock after editing pyproject.toml's dependencies, then commit it.

    Poetry locks through the package index pip is configured with (see lockstep.lockfile).
    `./inv lock` runs this before anything else, since a stale lock cannot be installed.
    """
    from lockstep import lockfile, tools

    project = root(c)
    guard(lambda: lockfile.lock(tools.ensure_poetry(project), project))
    print("locked: review `git diff poetry.lock`, then commit it")


@task(
    help={
        "fast": "only the unit and pipeline tests: no Docker, no network (a few minutes)",
        "unit": "only the unit tests",
        "workers": "parallel test processes (default: two per core for the whole suite, whose "
        "tests mostly wait on Docker; one per core for --fast and --unit)",
        "k": "only the tests whose names match this pytest expression",
    }
)
def test(c, fast=False, unit=False, workers=0, k=""):
    """Run the tests: all of them, on the real Docker engine, or a tier; `-- ARGS` go to pytest.

    The tests run in parallel (pytest-xdist), those that share an expensive fixture on one
    worker; each has a time limit (pytest-timeout). The slowest are listed at the end.
    """
    tiers = ["tests/unit"] if unit else ["tests/unit", "tests/pipeline"] if fast else ["tests"]
    targets = [tier for tier in tiers if (root(c) / tier).is_dir()]
    if not targets:
        print(f"no tests yet: put pytest tests under {tiers[0]}/ and `invoke test` runs them")
        return
    per_core = 1 if fast or unit else 2
    count = workers or per_core * (os.cpu_count() or 1)
    args = [*targets, "--numprocesses", str(count), "--dist", "loadgroup", "--durations=20"]
    args += ["-k", k] if k else []
    c.run(shlex.join(["pytest", *args, *shlex.split(c.remainder)]), echo=True, pty=False)


@task
def lint(c):
    """Check style: ruff check and ruff format --check, on [tool.lockstep] lint's paths."""
    run_ruff(c, "ruff check", "ruff format --check")


@task(name="format")
def format_(c):
    """Fix what ruff can fix, then format the code ([tool.lockstep] lint's paths)."""
    run_ruff(c, "ruff check --fix", "ruff format")


def run_ruff(c: Context, *commands: str) -> None:
    """Run ruff commands on the paths the project opted into, or say there are none."""
    paths = session(c).settings.lint
    if not paths:
        print('nothing to lint: list paths in pyproject.toml\'s [tool.lockstep] lint = ["..."]')
        return
    for command in commands:
        c.run(f"{command} {shlex.join(paths)}", echo=True)


def root(c: Context) -> Path:
    """The project's root, as its tasks.py gave it to `collection`; the task's log starts here."""
    found = Path(c.config.lockstep.root)
    guard(shell.start_log, found / paths.LOGS)
    return found


@dataclass(frozen=True)
class Session:
    """What a task works on, made once per invocation: the project's root and settings.

    The docker CLI is found when the task first asks for it: most tasks run none.
    """

    root: Path
    settings: Settings

    @functools.cached_property
    def engine(self) -> Engine:
        """The docker CLI the kit uses."""
        return guard(engines.find, self.settings.docker_cli())


def session(c: Context) -> Session:
    """The project's root and its kit settings, loaded (a task calls this once)."""
    found = root(c)
    return Session(found, guard(config.load, found))


def guard(func, *args, **kwargs):
    """Call a kit function; a LockstepError ends the task with its one-line message.

    Ctrl-C ends it too: the kit has already removed its containers and worktrees. An error
    from the operating system (a file another user owns, a full disk) gets one line too.
    """
    try:
        return func(*args, **kwargs)
    except LockstepError as exc:
        raise Exit(f"error: {exc}", code=exc.exit_code) from None
    except KeyboardInterrupt:
        raise Exit("interrupted: nothing was left running; rerun to continue", code=130) from None
    except OSError as exc:
        raise Exit(f"error: {files.describe_os_error(exc)}", code=2) from None
