"""Replay a past revision: the image it recorded, its files, and containers of one on the other.

Shared by `invoke rerun` and `invoke refresh`. The revision is checked out in a temporary git
worktree (the user's checkout, index and branch are never touched). Its lineage names the image
its results were made in; the image comes from the engine (by id), else the registry (by
digest), else its layout in the DVC remote, else it is rebuilt from the revision's own locks in
that worktree; its id is checked. The worktree gets its DVC-tracked inputs copied in from the
DVC cache or remote. Containers take their mounts and settings from the current checkout,
never from the revision's files. A revision whose tracked links lead out of its worktree is
refused before anything reads or writes through one, and so is a run of its code that left one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lockstep import git, links
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import LineageError, LinkError, LockstepError, RevisionError
from lockstep.records import lineage
from lockstep.records.lineage import LineageRecord, StageRun
from lockstep.run.containers import Run
from lockstep.share import remote


@dataclass(frozen=True)
class Replay:
    """A past revision checked out, with its recorded image in the engine.

    Attributes:
        settings: the current checkout's settings.
        engine: the Docker engine holding the image.
        rev: the revision as the user named it.
        commit: the commit it resolves to.
        record: the lineage committed there.
        image_id: the image its results were made in.
        run: a recorded run in that image (where it was pushed, its environment).
        tree: the temporary worktree at `commit`.
    """

    settings: Settings
    engine: Engine
    rev: str
    commit: str
    record: LineageRecord
    image_id: str
    run: StageRun
    tree: Path

    def container(self, command: Sequence[str], *, where: str, workdir: str = "") -> Run:
        """A container of the recorded image on the worktree (mounted at `workdir`).

        With no network: a replay computes from what the revision holds. Its mounts and CA
        bundle are the current checkout's: a revision's files choose nothing on this host.
        """
        settings = dataclasses.replace(
            self.settings,
            root=self.tree,
            workdir=workdir or self.settings.workdir,
            ca_bundle=str(self.settings.ca_bundle_path() or ""),
        )
        run = Run(settings, self.engine, self.image_id, command).with_network("none")
        return run.with_env(LOCKSTEP_WHERE=where)


@contextlib.contextmanager
def replay(
    settings: Settings, engine: Engine, rev: str, under: Path | None = None
) -> Iterator[Replay]:
    """Check `rev` out in a temporary worktree (in `under`) with its recorded image at hand.

    Raises:
        RevisionError: the revision is unknown or has no lineage.
        LinkError: a link it tracks leads out of its worktree.
        LineageError: its lineage names no image, or several environments.
        ImageNotFoundError: the image is nowhere to be found.
    """
    root = settings.root
    commit = git.resolve(root, rev)
    try:
        record = lineage.read_at(root, commit)
    except LockstepError:
        raise RevisionError(
            f"{rev} has no lineage: {lineage.PATH} is missing or unreadable there",
            "it was made before the kit; use a revision made with `invoke repro`",
        ) from None
    image_id, run = recorded_image(record, rev)
    with git.worktree(root, commit, under) as tree:
        own_files_only(tree, git.links(root, commit), f"{rev} links")
        # The worktree first: when no engine, registry or remote has the image, its locks do.
        remote.obtain(settings, engine, image_id, run, revs=[None, commit], tree=tree, rev=rev)
        remote.checkout_inputs(root, commit, tree, rev)
        yield Replay(settings, engine, rev, commit, record, image_id, run, tree)


def own_files_only(tree: Path, paths: list[str], who: str) -> None:
    """Refuse the links at `paths` in a revision's worktree (or under them) that lead out of it.

    Git checks a link out as a link and writes nothing through it; what comes next would follow
    one on this host: an image rebuilt from the revision's locks, DVC checking its inputs out
    into their folders, the verdict reading its outputs, a refresh writing its lineage.

    Raises:
        LinkError: `who` ("model/v3 links") out of its tree, each link and where it leads.
    """
    away = [link for link in links.on_paths(tree, paths) if not link.within(tree)]
    if away:
        named = ", ".join(f"{link.path} links to {link.target}" for link in away)
        raise LinkError(
            f"{who} out of its tree: {named}",
            "a replay reads and writes the revision's own files only; replay a revision that "
            "holds the files themselves (DVC-tracked, for data) instead of links to them",
        )


def ran_in_its_tree(tree: Path, rev: str) -> None:
    """After the revision's code ran in its worktree: refuse any link out of it, there or left.

    Before the host reads the outputs or writes the lineage: the code may have made links.
    """
    own_files_only(
        tree, sorted(entry.name for entry in os.scandir(tree)), f"the run of {rev} left links"
    )


def recorded_image(record: LineageRecord, rev: str) -> tuple[str, StageRun]:
    """The image a revision's results were made in, and a run in it.

    Stages may have run in different images (records made when the image held the source:
    every code change made a new one) but always in one environment: the fingerprints must
    agree. The image of the latest run is used.
    """
    runs = [run for run in record.stages.values() if run.environment.image_id]
    if not runs:
        raise LineageError(f"no stage at {rev} ran in an image", "replays need a container run")
    fingerprints = {run.environment.fingerprint for run in runs}
    if len(fingerprints) > 1:
        raise LineageError(
            f"stages at {rev} ran in {len(fingerprints)} different environments",
            "reproduce the whole pipeline in one image (`invoke repro --force`) and commit",
        )
    image_id = max(runs, key=lambda run: run.ran_at).environment.image_id
    # Any stage's run in that image may be the one that says where it was pushed.
    return image_id, record.images()[image_id]
