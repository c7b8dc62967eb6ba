"""What travels between machines through the DVC remote: publish, pull, and a replay's inputs.

`invoke publish` sends a result to the remote: every file DVC tracks in the workspace (data,
outputs, the base's `.deb` archive), the images the lineage records, as OCI layouts
(`lockstep.images.store`), and, when a registry is set, the images to the registry with their
digests recorded in the lineage, and the signed rerun statements (`lockstep.share.reruns`). DVC
sends only what the remote lacks, so an interrupted publish is finished by running it again.
`invoke pull REV` does the reverse on another machine: everything REV tracks into the DVC cache
(the workspace too, when REV is its commit), REV's images into the engine, and the rerun
statements of REV's commit. A replay (`history.replay`) gets its revision's DVC-tracked inputs
the same way: from the cache, else from the remote, copied into its worktree.

The remote is whatever DVC's config names (a folder, SSH, S3, GCS, Azure...): the kit only
calls DVC.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from lockstep import dvccache, dvcconfig, files, git, shell, workspace
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import (
    DamagedCacheError,
    DiskFullError,
    EngineStoppedError,
    ImageNotFoundError,
    LockstepError,
    RegistryGoneError,
)
from lockstep.images import debs, rebuild, registry, store
from lockstep.records import lineage
from lockstep.records.lineage import StageRun
from lockstep.share import reruns
from lockstep.shell import say

# DVC-tracked files a replay does not need in its worktree: image layouts and the base's .debs.
NOT_INPUTS = (store.FOLDER + "/", debs.FOLDER + ".dvc")


@workspace.exclusive("invoke publish")
def publish(settings: Settings, engine: Engine) -> list[str]:
    """Send the workspace's results, data, images and rerun statements; return what to commit."""
    root = settings.root
    store.check_remote(root)
    lineage.read(root / lineage.PATH)  # a workspace with no results says so first
    statements = reruns.local(root)  # a file that is none is refused before anything is sent
    say("publish: sending data and outputs (DVC sends only what the remote lacks)")
    store.push(root, [])
    if settings.registry:
        say(f"publish: pushing the recorded images to the registry {settings.registry}")
        registry.push_recorded(settings, engine)
    say("publish: writing the recorded images as layouts in images/ (one file per layer)")
    layouts = store.save_recorded(settings, engine)
    say("publish: sending the images' layers the remote lacks")
    store.push(root, layouts)
    reruns.send(root, statements)
    touched = [store.FOLDER + "/", lineage.PATH, debs.FOLDER + ".dvc"]
    return [path for path in git.changed_files(root) if path.startswith(tuple(touched))]


@workspace.exclusive("invoke pull")
def pull(settings: Settings, engine: Engine, rev: str) -> list[str]:
    """Bring what `rev` needs from the remote: its DVC-tracked files, images, rerun statements.

    Returns:
        The ids of the images now in the engine.
    """
    root = settings.root
    commit = git.resolve(root, rev)
    record = lineage.read_at(root, rev)
    say(f"pull: fetching what {rev} tracks into the DVC cache")
    fetch(root, commit)
    images = []
    for image_id, run in record.images().items():
        obtain(settings, engine, image_id, run, revs=[commit])
        tag = run.environment.image_tag
        if tag and engine.image_id(tag) is None:
            # The content tag it was built under: a build of the same inputs reuses it.
            engine.run("tag", image_id, tag, capture=True)
        images.append(image_id)
    if commit == git.commit(root):
        say("pull: checking the files out into the workspace")
        checkout(root, rev)
    reruns.collect(root, commit, rev)
    return images


def checkout(root: Path, rev: str) -> None:
    """Check the workspace's DVC-tracked files out of the cache (`rev` is its commit).

    Raises:
        DiskFullError: the workspace's disk cannot hold them.
        LockstepError: some are in neither the DVC cache nor the remote.
    """
    proc = shell.run(["dvc", "checkout"], cwd=root, capture=True, check=False)
    if not proc.returncode:
        return
    output = proc.stdout + proc.stderr
    failed = output.partition("following targets:")[2].split("Is your cache")[0].split()
    needed = dvcconfig.short_of_space(root, failed)
    if needed:
        raise files.no_space(f"checking out the files of {rev} into", root, needed)
    raise LockstepError(
        f"{rev}: not in the DVC cache nor the remote: "
        f"{', '.join(failed) or output.strip().splitlines()[-1]}",
        "publish them where they exist (`invoke publish`); everything else is restored",
    )


def obtain(
    settings: Settings,
    engine: Engine,
    image_id: str,
    run: StageRun,
    revs: list,
    *,
    tree: Path | None = None,
    rev: str = "",
) -> None:
    """Make the recorded image available locally, checking its id; say each rung it tried.

    The ladder: the engine by id, the registry by digest, the layout in the DVC remote, and,
    given the revision's worktree `tree` (at `revs[-1]`, named `rev`), a rebuild from its own
    locks that must give the recorded id (`lockstep.images.rebuild`).

    Raises:
        ImageNotFoundError: no rung gave the image; the message says what each found.
    """
    if engine.image_id(image_id) == image_id:
        return
    looked = ["not in the local engine"]
    say(f"image: {image_id[:19]} is {looked[0]}")
    gone: list[RegistryGoneError] = []  # the registry went away midway: its remedy is the one
    rungs = [
        lambda: _from_registry(engine, image_id, run, gone),
        lambda: _from_archive(settings.root, engine, image_id, revs),
    ]
    if tree is not None:
        pinned = checkout_remote(settings.root)
        commit = revs[-1]
        rungs.append(lambda: rebuild.rebuilt(settings, engine, image_id, tree, commit, rev, pinned))
    for rung in rungs:
        problem = rung()
        if problem is None:
            return
        say(f"image: {problem}")
        looked.append(problem)
    raise ImageNotFoundError(
        f"image {image_id[:19]} found nowhere: {'; '.join(looked)}",
        gone[0].hint if gone else "publish it (`invoke publish`) where it exists",
    )


def _from_registry(
    engine: Engine, image_id: str, run: StageRun, gone: list[RegistryGoneError]
) -> str | None:
    """The image pulled by its recorded digest; None, or why not (a registry gone, in `gone`)."""
    env = run.environment
    if not env.registry_digest:
        return "never pushed to a registry"
    try:
        registry.pull(engine, f"{env.registry_repository}@{env.registry_digest}", image_id)
    except EngineStoppedError:
        raise  # no rung works without the engine
    except RegistryGoneError as exc:
        gone.append(exc)
        return f"registry: {exc.message}"
    except LockstepError as exc:
        return f"registry: {exc.message}"
    say(f"image: pulled from the registry by digest ({env.registry_repository})")
    return None


def _from_archive(root: Path, engine: Engine, image_id: str, revs: list) -> str | None:
    """The image loaded from its layout in the DVC remote; None, or why not."""
    try:
        store.load(root, engine, image_id, revs)
    except EngineStoppedError:
        raise
    except DamagedCacheError as exc:
        return f"DVC archive: {exc}"  # with its remedy: the next run fetches a good copy
    except LockstepError as exc:
        return f"DVC archive: {exc.message}"
    return None


def checkout_remote(root: Path) -> dict[str, Any]:
    """`Repo` arguments that keep DVC on the checkout's default remote at any revision.

    At another revision DVC reads that revision's .dvc/config, whose remote may be one the
    project has left, or one planted in its history: these name the checkout's instead.
    """
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        name = repo.config["core"].get("remote")
        if not name:
            return {}
        return {"remote": name, "remote_config": dict(repo.config["remote"].get(name, {}))}


def fetch(root: Path, commit: str, targets: list[str] | None = None) -> None:
    """Fetch into the local DVC cache what `commit` tracks (only `targets`, when given).

    DVC's API, because its CLI fetches for the workspace or for all revisions, not one. The
    remote is the one the checkout's config names, never one a past revision named.

    Raises:
        LockstepError: the remote is unreachable, refuses, or lacks files.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        # DVC resolves targets against the working directory.
        with (
            dvcconfig.logged_errors() as logged,
            contextlib.chdir(root),
            Repo(str(root), **checkout_remote(root)) as repo,
        ):
            repo.fetch(targets=targets, revs=[commit], workspace=False)
    except Exception as exc:
        if any(files.is_no_space(entry.error) for entry in logged if entry.error):
            # The local cache filled, not the remote.
            raise files.no_space(
                "fetching into the DVC cache in", dvcconfig.cache_dir(root)
            ) from None
        # A remote gone while DVC reads a directory's listing escapes DVC's errors, as the SSH
        # library's own; any other error not DVC's is a defect, to be seen whole.
        if not (isinstance(exc, DvcException) or store.went_away(str(exc))):
            raise
        detail = "\n".join([*map(str, logged), str(exc)])
        raise store.remote_error("fetch from", root, detail) from None


def inputs(root: Path, tree: Path) -> list[str]:
    """The DVC-tracked inputs (`.dvc` files) in a revision's worktree, images and .debs aside."""
    listed = shell.output(["git", "ls-files", "-z", "--", "*.dvc"], cwd=tree).split("\0")
    return sorted(name for name in listed if name and not name.startswith(NOT_INPUTS))


def checkout_inputs(root: Path, commit: str, tree: Path, rev: str) -> list[str]:
    """Copy a revision's DVC-tracked inputs into its worktree, fetching what the cache lacks.

    The worktree's DVC uses the checkout's cache for this one command: its files are copied,
    not linked, so the replay's container, which sees only the worktree, reads real files.

    Raises:
        LockstepError: an input is neither in the cache nor in the remote.
        DamagedCacheError: an input's copy in the cache is damaged (and now removed from it).
    """
    from dvc.exceptions import CheckoutError, DvcException
    from dvc.repo import Repo

    targets = inputs(root, tree)
    if not targets:
        return []
    cache = str(dvcconfig.cache_dir(root))
    say(f"replay: {len(targets)} DVC-tracked input(s) of {rev}: {', '.join(targets)}")
    unreachable = None
    try:
        fetch(root, commit, targets)
    except DiskFullError:
        raise
    except LockstepError as exc:
        unreachable = exc  # what the cache holds may still be enough
    config = {"cache": {"dir": cache, "type": "copy"}, "core": {"no_scm": True}}
    try:
        with contextlib.chdir(tree), Repo(str(tree), config=config) as repo:
            # DVC copies its cache's files unread: a damaged one would make the replay's
            # outputs differ for no fault of the revision's.
            dvccache.check(repo, dvccache.used(repo, targets), lambda _: dvccache.FETCH_AGAIN)
            repo.checkout(targets=targets, force=True)
    except CheckoutError as exc:
        failed = getattr(exc, "target_infos", [])
        needed = dvcconfig.short_of_space(tree, failed)
        if needed:
            raise files.no_space(f"checking out the inputs of {rev} into", tree, needed) from None
        names = ", ".join(sorted(failed) or [str(exc)])  # DVC lists them in no set order
        if unreachable:
            raise LockstepError(
                f"missing data at {rev}: {names} is not in the DVC cache, "
                f"and {unreachable.message}",
                unreachable.hint,
            ) from None
        raise LockstepError(
            f"missing data at {rev}: {names} is neither in the DVC cache nor in the remote",
            f"publish it where it exists (`invoke publish`), or `invoke pull {rev}` first",
        ) from None
    except DvcException as exc:
        raise LockstepError(f"cannot check out the inputs of {rev}: {exc}", "see above") from None
    return targets
