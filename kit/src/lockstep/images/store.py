"""Keep images in the DVC remote, so a rerun works air-gapped with no registry at all.

`invoke publish` writes an image as an OCI layout in `images/<id>/`
(`lockstep.images.layout`: one file per layer), tracks the folder with DVC (`images/<id>.dvc`,
committed to git) and pushes it to the DVC remote; any DVC remote works. DVC stores each file
once, so image versions share every layer they have in common. A rerun fetches the folder
through DVC's API from the cache or the remote, checks every blob, and loads it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

from lockstep import dvccache, dvcconfig, files, git, shell
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import CommandError, ImageNotFoundError, LockstepError
from lockstep.images import layout, manifest
from lockstep.records import lineage
from lockstep.shell import say

FOLDER = "images"


def path_for(image_id: str) -> str:
    """Project-relative path of an image's layout folder."""
    return f"{FOLDER}/{image_id.removeprefix('sha256:')}"


def dvc_file_for(image_id: str) -> str:
    """Project-relative path of the .dvc file that tracks an image's layout."""
    return path_for(image_id) + ".dvc"


def save(root: Path, engine: Engine, image_id: str) -> Path:
    """Write an image's layout and track it with DVC (not pushed yet); return its .dvc file.

    A layout is tracked only once complete: an interrupted save leaves no .dvc file, and its
    partial folder is replaced by the next one.
    """
    target = root / path_for(image_id)
    dvc_file = root / dvc_file_for(image_id)
    if dvc_file.exists():
        return dvc_file
    found = engine.inspect(image_id)
    if found is None or found["Id"] != image_id:
        raise ImageNotFoundError(
            f"image {image_id[:19]} is in no remote and not in the local engine, so it cannot "
            "be archived",
            "rebuild it (`invoke build` at the commit whose locks made it), or rerun "
            "`invoke repro` to record the current one",
        )
    say(f"archive: writing {target.relative_to(root)}/ (one file per layer)")
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    # The layout's size is about the image's (uncompressed layers); DVC's cache takes as much.
    with (
        files.space_for("writing the image layout to", target, found.get("Size")),
        tempfile.TemporaryDirectory(prefix=".lockstep-", dir=target.parent) as tmp,
    ):
        layout.write(engine, image_id, Path(tmp) / "layout")
        (Path(tmp) / "layout").rename(target)
    try:
        shell.run(["dvc", "add", "--quiet", target.relative_to(root)], cwd=root)
    except CommandError as exc:
        # Its space is what the next try needs; that try writes it anew.
        shutil.rmtree(target, ignore_errors=True)
        if files.is_no_space(exc):
            cache = dvcconfig.cache_dir(root)
            doing = "adding the image layout to the DVC cache in"
            raise files.no_space(doing, cache, found.get("Size")) from exc
        raise
    # The layout lives in the DVC cache and remote; a copy in the workspace only uses disk.
    shutil.rmtree(target)
    return dvc_file


def push(root: Path, targets: list[Path]) -> None:
    """Push DVC-tracked files to the default remote, with DVC's progress bars.

    What the remote lacks is checked first (`lockstep.dvccache`): DVC sends its cache's files
    unread, and a damaged one would be in the remote for every later fetch.

    Raises:
        DamagedCacheError: a file to send is damaged in the cache; nothing was sent.
        LockstepError: the remote refused or could not be reached, in one line with a remedy.
    """
    names = [str(target.relative_to(root)) for target in targets]
    try:
        dvccache.check_unsent(root, names, lambda damaged: _remake(root, damaged))
    except LockstepError:
        raise
    except Exception as exc:  # DVC raises many kinds for a remote it cannot ask
        raise remote_error("push to", root, str(exc)) from None
    try:
        shell.run(["dvc", "push", *names], cwd=root, tee=True)
    except CommandError as exc:
        errors = [line for line in exc.log.splitlines() if line.startswith("ERROR")]
        raise remote_error("push to", root, "\n".join(errors) or exc.message) from None


# How the SSH library (asyncssh), docker and the system say that the server at the other end
# of a transfer is gone: the connection in use cut, or a new one refused.
GONE = (
    "connection lost",
    "connection not open",
    "connection closed",
    "broken pipe",
    "reset by",
    "unexpected eof",
    "connection refused",
)


def went_away(detail: str) -> bool:
    """Whether an error says the server at the other end of a transfer is gone (or refuses)."""
    return any(sign in detail.lower() for sign in GONE)


def _remake(root: Path, damaged: Any) -> str:
    """How a good copy of a damaged cache file (a DVC `HashInfo`) gets back, for publish."""
    path = damaged.obj_name
    if path.startswith(FOLDER + "/"):
        layout = "/".join(path.split("/")[:2])
        return f"delete {layout}.dvc and publish again: it writes the layout again from the engine"
    if damaged.isdir:  # the folder's listing
        return f"`dvc commit --force {path}` lists the workspace's folder again, then publish again"
    with contextlib.suppress(OSError):  # none in the workspace: no copy to store again
        if dvccache.holds(root / path, damaged):
            return (
                f"the workspace's {path} is intact: `dvc commit --force {path}` stores it again, "
                "then publish again"
            )
    return "make it again (`invoke repro --force`, or `dvc add` a good copy), then publish again"


def remote_error(action: str, root: Path, detail: str) -> LockstepError:
    """One line for a DVC remote that failed: what happened, and what to do about it.

    `detail` is DVC's errors, one a line, as its CLI prints them: the last one sums up, and a
    file's `failed to transfer 'HASH' - CAUSE` says why. A remote gone in the middle of a
    transfer is said so, by the first such cause: the summary only counts files.
    """
    lines = [
        line.removeprefix("ERROR: ").removeprefix("unexpected error - ")
        for line in detail.strip().splitlines()
    ] or ["no reason given"]
    detail = lines[-1]
    name = shell.output(["dvc", "remote", "default"], cwd=root, check=False) or "(none)"
    causes = [line.partition("' - ")[2] for line in lines if line.startswith("failed to transfer")]
    gone = next((cause for cause in [*causes, detail] if went_away(cause)), "")
    if gone:
        verb = action.split()[0]
        moved = "sent" if verb == "push" else "fetched"
        counted = detail.rpartition(" - ")[2]  # DVC's count: `3 files failed to upload`
        kept = "what arrived whole is kept"
        kept = f"{counted}; {kept}" if "files failed" in counted else kept
        return LockstepError(
            f"the DVC remote {name!r} went away during the {verb}: {gone} ({kept})",
            f"check that it is reachable (dvc remote list shows its URL), then run the same "
            f"command again: only what is missing is {moved}",
        )
    lowered = detail.lower()
    if "permission denied" in lowered or "authentication" in lowered:
        hint = f"check the remote's key: dvc remote modify --local {name} keyfile PATH"
    elif "no space" in lowered or "quota" in lowered:
        hint = "free space on the remote, then run again: only what is missing is sent"
    elif "failed to upload" in lowered:
        # SFTP reports a full disk as a bare "Failure": DVC can only count the files.
        hint = "the remote refused them: check its free space and permissions, then run again"
    elif "failed to download" in lowered:
        # DVC's API counts the files; the cause (often an unreachable remote) stays in its log.
        hint = "check that the remote is reachable (dvc remote list shows its URL) and holds them"
    elif "connect" in lowered or "timed out" in lowered or "resolve" in lowered:
        hint = "check that the remote is reachable (dvc remote list shows its URL), then retry"
    else:
        hint = "check the remote with dvc remote list, then run again"
    return LockstepError(f"cannot {action} the DVC remote {name!r}: {detail}", hint)


def load(root: Path, engine: Engine, image_id: str, revs: list[str | None]) -> None:
    """Load an archived image, looking for its .dvc file at each revision in turn.

    Raises:
        ImageNotFoundError: no revision archives it, or the layout is neither in the cache nor
            in the remote, or it is not the image it claims to be.
        DamagedCacheError: it is not, because a file of it is damaged in the DVC cache (which
            no longer holds that file).
    """
    from dvc.api import DVCFileSystem  # heavy; only reruns need it

    path = path_for(image_id)
    problems = []
    with tempfile.TemporaryDirectory(prefix="lockstep-layout-", dir="/var/tmp") as tmp:
        local = Path(tmp) / "layout"
        for rev in revs:
            try:
                fs = DVCFileSystem(str(root), rev=rev)
                fs.get(path, str(local), recursive=True)
                break
            except Exception as exc:  # DVC raises many kinds; each just means "not here"
                shutil.rmtree(local, ignore_errors=True)
                problems.append(f"{rev or 'workspace'}: {_why_not(root, rev, image_id, exc)}")
        else:
            raise ImageNotFoundError(
                f"no DVC archive of {image_id[:19]} ({'; '.join(problems)})",
                "publish it with `invoke publish` where the image exists",
            )
        say(f"loading {image_id[:19]} from its layout in the DVC remote")
        try:
            layout.load(engine, local, image_id)
        except ImageNotFoundError:
            # A blob that does not match its digest: damaged in this machine's cache, or in
            # the remote (DVC copies both unread). Only a damaged cache file is worth naming.
            dvccache.check(fs.repo, dvccache.tracked(fs, path), lambda _: dvccache.FETCH_AGAIN)
            raise


def _why_not(root: Path, rev: str | None, image_id: str, exc: Exception) -> str:
    """Why the layout could not be had at `rev`, in a phrase.

    Never archived there, or archived with its files in neither the DVC cache nor the remote.
    """
    name = dvc_file_for(image_id)
    if not ((root / name).exists() if rev is None else git.exists(root, rev, name)):
        return f"{name} is not there"
    kind = type(exc).__name__
    return f"{name} is there, its layers in neither the DVC cache nor the remote ({kind})"


def save_recorded(settings: Settings, engine: Engine) -> list[Path]:
    """Track the lineage's images and the offline base as layouts; return their .dvc files.

    Only what no remote holds must be in the local engine: an image already archived (its .dvc
    file is here: DVC sends only the layers the remote lacks) or already in the registry (its
    push is recorded) is not required, so a fresh clone publishes after `invoke repro`.

    Raises:
        ImageNotFoundError: an image is in no remote and not in the local engine.
    """
    root = settings.root
    record = lineage.read(root / lineage.PATH)
    check_remote(root)
    wanted = [
        image_id for image_id, run in record.images().items() if _to_archive(root, engine, run)
    ]
    recorded = manifest.recorded_base(settings)
    if recorded and engine.image_id(recorded.image):
        wanted.append(recorded.image)
    return [save(root, engine, image_id) for image_id in wanted]


def _to_archive(root: Path, engine: Engine, run: lineage.StageRun) -> bool:
    """Whether publish must archive a recorded image: not when the registry alone has it."""
    env = run.environment
    image_id = env.image_id or ""
    if (root / dvc_file_for(image_id)).exists() or engine.image_id(image_id) == image_id:
        return True
    if env.registry_digest:
        say(
            f"archive: {image_id[:19]} is not in the local engine; the registry holds it "
            f"({env.registry_repository}@{env.registry_digest[:19]}), so it is not archived here"
        )
        return False
    return True  # `save` says it is nowhere


def check_remote(root: Path) -> None:
    """Refuse before saving anything when DVC has no default remote to push archives to."""
    proc = shell.run(["dvc", "remote", "default"], cwd=root, capture=True, quiet=True, check=False)
    if proc.returncode or not proc.stdout.strip():
        raise LockstepError(
            "no DVC remote to publish to (DVC has no default remote)",
            "configure one with `dvc remote add -d NAME URL`",
        )
