"""`invoke repro` and `invoke exp run`: DVC in the project's image, and lineage for what ran.

In a container by default (building the image first when its inputs changed); directly with
`local=True`, or when already inside a lockstep image (the devcontainer), where DVC is at hand.
The workspace lock is held from the build to the lineage write.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import platform
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from lockstep import engines, git, paths, shell, workspace, yamltext
from lockstep.config import Settings
from lockstep.errors import ConfigError, EngineStoppedError, LockstepError
from lockstep.files import atomic_write
from lockstep.images import builder, manifest, recorded, reproducible, sbom
from lockstep.records import lineage, signing, sources
from lockstep.records.environment import ENVIRONMENT_FILE, write_environment
from lockstep.run import view
from lockstep.run.containers import Run, clear_leftovers
from lockstep.runtime import fingerprint, machine, params
from lockstep.shell import say


@workspace.exclusive("invoke build")
def build(
    settings: Settings,
    target: str = "runtime",
    *,
    update_base: bool = False,
    strict: bool = False,
    check: bool = False,
):
    """Build (or reuse) the image and record its fingerprint as the pipeline's dependency.

    With `check`, the runtime image is built a second time from empty caches and must come out
    the same (`lockstep.images.reproducible`).
    """
    engine = engines.find(settings.docker_cli())
    if check and target != "runtime":
        raise ConfigError("--check compares runtime images", "leave out --target")
    if check:
        image = reproducible.check(settings, engine)
    else:
        image = builder.build(settings, engine, target, update_base=update_base, strict=strict)
    if target == "runtime":
        described = sbom.describe(settings.root, engine, image.id, settings.image)
        write_environment(settings.root, image.fingerprint, {"id": image.id, **described.summary()})
        _record(settings, engine, image)
    return engine, image


def _record(settings: Settings, engine: engines.Engine, image: builder.Image) -> None:
    """Keep the answer for the next build with the same inputs (`lockstep.images.recorded`)."""
    base_ref, _, base_id = image.label("base").partition("@")
    answer = recorded.Build(
        cli=engine.cli,
        tag=image.tag,
        commit_tag=image.commit_tag,
        id=image.id,
        fingerprint=image.fingerprint,
        dvc=image.label("dvc"),
        base=base_ref,
        base_id=base_id,
    )
    # The project's own files: the kit's (outside it) change only with the lock, which is one.
    root, files = settings.root, builder.input_files(settings, "runtime")
    inputs = [path.relative_to(root) for path in files if path.is_relative_to(root)]
    # The base is named by its manifest; environment.yaml is what this build wrote.
    inputs += [settings.base.manifest] if settings.base.bootstrap else []
    recorded.record(settings.root, answer, [str(name) for name in [*inputs, ENVIRONMENT_FILE]])


@dataclass(frozen=True)
class Prepared:
    """A run about to start: its lineage, the run itself, and what to record after it."""

    env: lineage.Environment
    command: Callable[[], int]
    drift: str  # how the environment compares with the committed results'
    # The machine facts where the stages run; asked only when a stage ran.
    machine: Callable[[], dict | None]
    described: sbom.Described | None = None
    # The container `command` starts, for a run in the image: a sweep starts its like per point.
    container: Run | None = None


def repro(
    settings: Settings, dvc_args: Sequence[str], *, local: bool = False, strict: bool = False
) -> int:
    """Run `dvc repro` with `dvc_args`, record lineage and print the verdict; see `run`.

    params.yaml is checked first, with the project's schema (`lockstep.runtime.params`): a
    malformed file stops the run before any build.
    """
    params.check_with(settings.params, settings.path("params.yaml"))
    return run(settings, ["repro", *dvc_args], local=local, strict=strict)


def run(
    settings: Settings,
    dvc_command: Sequence[str],
    *,
    local: bool = False,
    strict: bool = False,
    recording: Callable[[Path], AbstractContextManager[object]] | None = None,
) -> int:
    """Run a DVC command that reproduces stages, record lineage, print the verdict.

    Lineage is recorded from what the run left, not from what DVC printed: the stages whose
    dvc.lock entries it changed and, when a forced run succeeded, those whose outputs it
    rewrote (a forced rerun gives the same entry). However the run ends (a failure, Ctrl-C),
    the stages DVC committed get their lineage. A run that succeeded is signed when a key is
    configured (`lockstep.records.signing`), and ends with the verdict: whether the outputs are
    those the committed dvc.lock records, and how the environment compares with the recorded
    one. A failed run has none (the task says that DVC failed).

    Args:
        settings: the project's settings.
        dvc_command: what follows `dvc` (`["repro", "--force"]`, `["exp", "run", ...]`).
        local: run DVC right here rather than in the image.
        strict: refuse a base image that differs from its committed manifest.
        recording: given the root, a context entered just before DVC starts and left, when
            the run ends without an exception, after the lineage is written: for what must
            follow from the lineage while the workspace is still locked.

    Returns:
        DVC's exit code.
    """
    root = settings.root
    with workspace.held(root, f"invoke {dvc_command[0]}"):
        here = local or fingerprint.inside_image()
        # Not with --strict: the base the recorded build accepted is to be checked again.
        if not (here or strict or recording) and list(dvc_command) == ["repro"]:
            settled = _settled(root)
            if settled:
                say(settled.up_to_date())
                say("pipeline: every stage is up to date (DVC's status, here: no container)")
                say(verdict(root, _environment_drift(settings, settled.fingerprint)))
                return 0
        if here:
            prepared = _prepare_here(settings, dvc_command)
        else:
            prepared = prepare_container(settings, dvc_command, strict=strict)
        with recording(root) if recording else contextlib.nullcontext():
            before, started = lineage.read_dvc_lock(root), time.time()
            code, record = 1, None
            try:
                code = prepared.command()
            finally:
                forced = code == 0 and {"-f", "--force"} & set(dvc_command)
                record = lineage.record_run(
                    root,
                    before,
                    prepared.env,
                    machine=prepared.machine,
                    forced_since=started if forced else None,
                )
                if record:
                    if prepared.described:
                        prepared.described.keep()
                    sbom.prune(root, set(record.images()))
                    sources.keep(root, prepared.env.source_tree)
                    sources.prune(root, record.source_trees())
            if code == 0 and record:
                # Signed while the workspace is locked: the outputs are the ones just recorded.
                signing.after_run(settings, record)
        if code == 0:
            # A failed run has no verdict: its outputs are whatever the failure left.
            say(verdict(root, prepared.drift))
    return code


def _settled(root: Path) -> recorded.Build | None:
    """The recorded image, when a plain repro in it would run nothing: no container is needed.

    DVC's own status, run here with the DVC the image holds (the same lock installed both),
    over the pipeline's stages: the files `dvc add` tracks are not reproduced, a frozen or
    always-changed stage is left to the run in the image, and any other DVC version too.
    """
    import dvc
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    build = recorded.answer(root)
    if build is None or build.dvc != dvc.__version__:
        return None
    try:
        with Repo(str(root)) as repo:
            stages = repo.index.stages
            if any(stage.frozen for stage in stages):
                return None
            added = {stage.addressing for stage in stages if stage.is_data_source}
            stale = [name for name in repo.status() if name not in added]
    except DvcException:
        return None  # a broken dvc.yaml, say: the run in the image says so, as DVC does
    return None if stale else build


def verdict(root: Path, environment: str) -> str:
    """One line: are the outputs those the committed dvc.lock records, and in what environment."""
    text = _committed(root, "dvc.lock")
    if text is None:
        return "results: no committed dvc.lock to compare with yet (commit the results)"
    committed = yamltext.load(text) or {}
    old = lineage.output_hashes(committed)
    new = lineage.output_hashes(lineage.read_dvc_lock(root))
    differ = sorted(path for path in old.keys() | new.keys() if old.get(path) != new.get(path))
    if not differ:
        return (
            f"reproduced: {len(old)} of {len(old)} outputs identical to the committed dvc.lock "
            f"(environment: {environment})"
        )
    return (
        f"changed: {len(differ)} of {len(old.keys() | new.keys())} outputs differ from the "
        f"committed dvc.lock: {', '.join(differ)} (environment: {environment})"
    )


def prepare_container(settings: Settings, dvc_command: Sequence[str], *, strict: bool):
    """The environment of a run in the image, the run itself, and how the environment compares.

    The docker and git calls that do not depend on each other run at once (each costs
    milliseconds to tens of them, a no-op run makes a dozen). The workspace lock is held, so no
    other run can start a container between the check for leftovers and this run's own. The
    stages' paths are checked first, before any build (`lockstep.run.view`).
    """
    cache = view.checked(settings)
    engine = engines.find(settings.docker_cli())
    with ThreadPoolExecutor() as pool:
        leftovers = pool.submit(clear_leftovers, settings, engine)
        # DVC commits experiments itself, with a git library that reads none of the user's
        # configuration in the container: without this they would be signed by the container.
        identity = pool.submit(git.identity_env, settings.root)
        _, image = build(settings, strict=strict)
        # After the build, which may rewrite environment.yaml: the state the run starts from.
        state = pool.submit(_source_state, settings)
        drift = pool.submit(_environment_drift, settings, image.fingerprint)
        described = pool.submit(sbom.describe, settings.root, engine, image.id, settings.image)
    # The results are taken in the order the calls used to run: the same error comes first.
    env = _environment(
        settings,
        **state.result(),
        where="container",
        image_id=image.id,
        image_tag=image.tag,
        fingerprint=image.fingerprint,
        base_image=image.label("base"),
        dvc_version=image.label("dvc"),
        python_version=image.label("python"),
        sbom=described.result().digest,
    )
    run = Run(settings, engine, image.id, ["dvc", *dvc_command]).with_env(**identity.result())
    run = run.with_volume(str(cache)) if cache else run
    comparison = drift.result()
    leftovers.result()
    probe = Run(settings, engine, image.id, machine.command()).with_network("none")
    return Prepared(
        env,
        functools.partial(run.start, cleared=True),
        comparison,
        functools.partial(machine_facts, settings, probe),
        described.result(),
        run,
    )


def machine_facts(settings: Settings, probe: Run) -> dict | None:
    """The machine facts `probe` prints, asked once per image, numeric variables and CPU.

    They are a function of those three (the libraries, what the variables choose, what the CPU
    offers), so an answer is kept: the probe's imports take seconds, after every run. None when
    the engine stopped during the run: the stages it finished are recorded without them.
    """
    inputs = [probe.image, machine.passed_on(), machine.cpu()]
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    kept = settings.path(paths.MACHINE_FACTS) / f"{key[:32]}.json"
    if kept.exists():
        return json.loads(kept.read_text())
    try:
        # In a container started as the run's (same variables, same user).
        facts = json.loads(probe.captured())
    except EngineStoppedError:
        return None  # the run's own error says so
    atomic_write(kept, json.dumps(facts, sort_keys=True).encode())
    return facts


def _environment_drift(settings: Settings, image_fingerprint: str) -> str:
    """How the run's environment compares with the one the committed results were made in."""
    parts = []
    if settings.base.bootstrap:
        name = settings.base.manifest
        committed, current = _committed(settings.root, name), manifest.read(settings.path(name))
        if committed is not None and current is not None:
            changes = current.changes_from(manifest.parse(committed, f"{name} at HEAD"))
            if changes:
                drift = manifest.describe_drift(changes).replace("recorded", "committed")
                parts.append(f"{drift}: {manifest.summarise(changes)}")
    committed_env = yamltext.load(_committed(settings.root, ENVIRONMENT_FILE) or "{}") or {}
    if committed_env.get("fingerprint") not in (None, image_fingerprint):
        parts.append(f"fingerprint differs from the committed {ENVIRONMENT_FILE}")
    return "; ".join(parts) or "as recorded"


def _committed(root: Path, path: str) -> str | None:
    """A file's text at HEAD, or None when HEAD does not have it."""
    try:
        return git.show(root, "HEAD", path)
    except LockstepError:
        return None


def _prepare_here(settings: Settings, dvc_command: Sequence[str]):
    """The environment of a run right here (.venv, or inside the devcontainer), and the run."""
    inside = fingerprint.inside_image()
    value = fingerprint.fingerprint(fingerprint.describe()) if inside else None
    if value:
        # As `invoke build` does for batch runs: the stages depend on the environment they run
        # in, so a devcontainer on a newer lock than environment.yaml must make them stale.
        write_environment(settings.root, value)
    where = fingerprint.where() if inside else "host"
    env = _environment(
        settings,
        **_source_state(settings),
        where=where,
        image_id=None,
        image_tag=None,
        fingerprint=value,
        base_image=None,
        dvc_version=shell.output(["dvc", "--version"], cwd=settings.root),
        python_version=platform.python_version(),
    )

    def command() -> int:
        cmd = ["dvc", *dvc_command]
        return shell.run(cmd, cwd=settings.root, tee=True, show=True, check=False).returncode

    return Prepared(env, command, f"where: {where}", machine.describe)


def _source_state(settings: Settings) -> dict:
    """The commit, dirtiness and source tree of the inputs, before the run changes any output.

    The source tree is what the container will see: the image holds none (`records.sources`).
    """
    commit, dirty = git.state(settings.root)
    return {"commit": commit, "dirty": dirty, "source_tree": sources.tree(settings.root)}


def _environment(settings: Settings, **fields) -> lineage.Environment:
    return lineage.Environment(
        registry_digest=None,
        registry_repository=None,
        lock_sha256=builder.lock_hash(settings),
        **fields,
    )
