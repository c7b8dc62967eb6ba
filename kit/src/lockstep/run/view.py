"""What a run's container sees of the host: the workspace, and the project's DVC cache.

The workspace is mounted at the image's workdir, not at its own path. A stage's dependency or
output that is a link out of the workspace (a folder of big outputs on another disk) leads
nowhere in the container, nor does an absolute link into the workspace: the stage would die
there with a traceback, after the build and every stage before it. Such links are refused
first, by DVC's own list of the stages' paths. DVC's answer for big data on another disk is its
cache: a cache outside the workspace is mounted at its own path, so the links DVC makes into
it (`cache.type symlink`) lead there in the container too. A run here (`--local`, the
devcontainer) follows the links as they are, and is not checked.
"""

from __future__ import annotations

import os
from pathlib import Path

from lockstep import links
from lockstep.config import Settings
from lockstep.errors import LinkError


def checked(settings: Settings) -> Path | None:
    """Refuse links on the stages' paths that lead nowhere in the container; the cache to mount.

    Returns:
        The project's DVC cache when it lies outside the workspace (the container must mount
        it), else None.

    Raises:
        LinkError: a stage's path, or a folder above or under it, is a link out of the
            workspace or an absolute one; the line names each and where it links.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    root = settings.root
    try:
        with Repo(str(root)) as repo:
            cache = Path(repo.cache.local_cache_dir)
            files = sorted(
                {
                    Path(os.path.relpath(entry.fs_path, repo.root_dir)).as_posix()
                    for stage in repo.index.stages
                    for entry in [*stage.deps, *stage.outs]
                    if entry.is_in_repo
                }
            )
    except DvcException:
        return None  # no DVC project, a broken dvc.yaml: DVC in the container says so, as it does
    outside = not cache.resolve().is_relative_to(root.resolve())
    # DVC's own links into its cache (cache.type symlink) lead where the cache is mounted.
    _refuse(settings, [link for link in links.on_paths(root, files) if not link.within(cache)])
    return cache if outside else None


def _refuse(settings: Settings, found: list[links.Link]) -> None:
    """Raise for the links the container cannot follow: out of the workspace, or absolute."""
    root = settings.root
    away = [link for link in found if not link.within(root)]
    if away:
        raise LinkError(
            f"{_named(away)}, outside the workspace: the container sees only the workspace",
            "make it a real folder or file; to keep big data on another disk, put the DVC "
            "cache there (dvc cache dir --local /mnt/big/dvc-cache, then dvc config --local "
            "cache.type symlink) and run dvc checkout",
        )
    # Unless the workspace is at the workdir already (a project in /workspace).
    inside = str(root) != settings.workdir
    absolute = [link for link in found if inside and os.path.isabs(link.target)]
    if absolute:
        first = absolute[0]
        relative = os.path.relpath(first.leads, (root / first.path).parent.resolve())
        raise LinkError(
            f"{_named(absolute)}: an absolute link leads nowhere in the container, which sees "
            f"the workspace at {settings.workdir}",
            f"make it relative: ln -sfn {relative} {first.path}",
        )


def _named(found: list[links.Link]) -> str:
    return ", ".join(f"{link.path} links to {link.target}" for link in found)
