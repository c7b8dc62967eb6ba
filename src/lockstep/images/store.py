"""Keep images in the DVC remote, so a rerun works air-gapped with no registry at all.

`invoke archive` saves an image (`docker save`) as `images/<id>.tar`, tracks it with DVC
(`images/<id>.tar.dvc`, committed to git) and pushes it to the DVC remote; any DVC remote works.
A rerun streams it back through DVC's API from the cache or the remote and `docker load`s it.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from pathlib import Path

from lockstep import lineage, shell
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import CommandError, ImageNotFoundError, LockstepError
from lockstep.images import manifest, oci
from lockstep.shell import say

FOLDER = "images"


def path_for(image_id: str) -> str:
    """Project-relative path of an image's archive."""
    return f"{FOLDER}/{image_id.removeprefix('sha256:')}.tar"


def save(root: Path, engine: Engine, image_id: str) -> Path:
    """Archive an image into the DVC remote; return its .dvc file."""
    target = root / path_for(image_id)
    dvc_file = target.with_name(target.name + ".dvc")
    if dvc_file.exists():
        say(f"{dvc_file.relative_to(root)} exists; pushing it")
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        engine.run("save", "--output", str(target), image_id)
        shell.run(["dvc", "add", target.relative_to(root)], cwd=root)
        # The archive lives in the DVC cache and remote; a copy in the workspace only uses disk.
        target.unlink()
    try:
        shell.run(["dvc", "push", dvc_file.relative_to(root)], cwd=root)
    except CommandError as exc:
        raise LockstepError(
            f"cannot push the archive to the DVC remote: {exc.message}",
            "configure one with `dvc remote add -d NAME URL`",
        ) from None
    return dvc_file


def load(root: Path, engine: Engine, image_id: str, revs: list[str | None]) -> None:
    """Load an archived image, looking for its .dvc file at each revision in turn.

    Raises:
        ImageNotFoundError: no revision archives it, or the archive is neither in the cache nor in
            the remote, or it holds another image.
    """
    import dvc.api  # heavy; only reruns need it

    path = path_for(image_id)
    problems = []
    with tempfile.TemporaryDirectory(prefix="lockstep-archive-", dir="/var/tmp") as tmp:
        local = Path(tmp) / "image.tar"
        for rev in revs:
            try:
                with (
                    dvc.api.open(path, repo=str(root), rev=rev, mode="rb") as stream,
                    open(local, "wb") as out,
                ):
                    shutil.copyfileobj(stream, out, 1 << 20)
                break
            except Exception as exc:  # DVC raises many kinds; each just means "not here"
                problems.append(f"{rev or 'workspace'}: {type(exc).__name__}")
        else:
            raise ImageNotFoundError(
                f"no DVC archive of {image_id[:19]} ({'; '.join(problems)})",
                "archive it with `invoke archive` where the image exists",
            )
        check_archive(local, image_id)
        engine.run("load", "--quiet", "--input", str(local), capture=True)
    if engine.image_id(image_id) is None:
        raise ImageNotFoundError(f"{path} did not hold {image_id[:19]}", "re-archive the image")


def check_archive(archive: Path, image_id: str) -> None:
    """Refuse an archive that is not exactly the one image, untagged, that it claims to be.

    `docker load` would load every image an archive holds and move every tag it names; a
    tampered or mistaken archive must not get that far. The image id is the digest of the
    config, which names every layer's digest (checked by `docker load` itself).

    Raises:
        ImageNotFoundError: the archive holds another image, more than one, or tags.
    """
    problem = ""
    try:
        with tarfile.open(archive) as tar:
            entries = json.loads(tar.extractfile("manifest.json").read())
            if not isinstance(entries, list) or len(entries) != 1:
                problem = "it does not hold exactly one image"
            elif entries[0].get("RepoTags"):
                problem = f"it would tag images ({', '.join(entries[0]['RepoTags'])})"
            else:
                config = tar.extractfile(entries[0]["Config"]).read()
                if oci.digest(config) != image_id:
                    problem = f"it holds image {oci.digest(config)[:19]}"
    except (tarfile.TarError, KeyError, AttributeError, TypeError, ValueError) as exc:
        problem = f"it is not an image archive ({type(exc).__name__})"
    if problem:
        raise ImageNotFoundError(
            f"the DVC archive of {image_id[:19]} was refused: {problem}",
            "re-archive the image with `invoke archive` where it exists",
        )


def save_recorded(settings: Settings, engine: Engine) -> list[Path]:
    """Archive the images the lineage names and the offline base; return their .dvc files."""
    root = settings.root
    record = lineage.read(root / lineage.PATH)
    check_remote(root)
    ids = list(record.images())
    recorded = manifest.recorded_base(settings)
    if recorded and engine.image_id(recorded.image):
        ids.append(recorded.image)
    return [save(root, engine, image_id) for image_id in ids]


def check_remote(root: Path) -> None:
    """Refuse before saving anything when DVC has no default remote to push archives to."""
    proc = shell.run(["dvc", "remote", "default"], cwd=root, capture=True, quiet=True, check=False)
    if proc.returncode or not proc.stdout.strip():
        raise LockstepError(
            "no DVC remote to archive images in (DVC has no default remote)",
            "configure one with `dvc remote add -d NAME URL`",
        )
