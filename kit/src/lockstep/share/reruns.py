"""Signed rerun statements travel through the DVC remote, beside DVC's objects, not in git.

A validator who reran a release holds its signed verdict, `reports/reruns/COMMIT.json` (a DSSE
envelope, `lockstep.records.signing`). `send` puts each in the project's default DVC remote as
`lockstep/reruns/COMMIT/SHA256.json`, named by the sha256 of its bytes, outside DVC's own
object layout (`files/md5/...`), which DVC's garbage collection alone manages. `collect` brings
a commit's statements into `.lockstep/reruns/COMMIT/`, keeping only those whose bytes match
their name.

Why the remote and not git: a validator needs no write access to the author's branch or
repository, only to this prefix of the remote, which an object store's policy can scope; a
name made of the content means two validators never collide, a statement is never replaced,
and sending one again sends nothing; and the statements are small. The remote is reached with
DVC's own filesystem for it (SSH, S3, a folder...), with the keys DVC's config gives.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockstep import git, paths
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.errors import LockstepError
from lockstep.files import atomic_write
from lockstep.images import store
from lockstep.records import quorum, signing
from lockstep.records.reruns import Quorum
from lockstep.shell import say

PREFIX = "lockstep/reruns"
COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 and SHA-256 repositories


@dataclass(frozen=True)
class Statement:
    """A signed rerun statement of this workspace, and the name it has in the remote."""

    path: str  # project-relative
    commit: str
    data: bytes

    @property
    def name(self) -> str:
        """Its file's name in the remote: the sha256 of its bytes."""
        return f"{hashlib.sha256(self.data).hexdigest()}.json"

    @property
    def shown(self) -> str:
        """Its place in the remote, the digest cut short: `lockstep/reruns/C/0123456789ab…`."""
        return f"{PREFIX}/{self.commit}/{self.name[:12]}…"


@dataclass(frozen=True)
class Remote:
    """The default DVC remote's filesystem (DVC's own, with its config's keys) and its name."""

    fs: Any
    folder: str  # of the statements, in the remote
    name: str

    def of(self, commit: str) -> str:
        """The remote's folder of a commit's statements."""
        return self.fs.join(self.folder, commit)


def local(root: Path) -> list[Statement]:
    """The workspace's signed rerun statements, each checked to be one.

    Raises:
        LockstepError: a file is not a DSSE envelope named after a commit; nothing is sent.
    """
    found = []
    for path in sorted((root / signing.RERUNS).glob("*.json")):
        shown = str(path.relative_to(root))
        data = path.read_bytes()
        if not COMMIT.fullmatch(path.stem):
            problem = "is not named after the commit it reran (COMMIT.json)"
        elif not _is_envelope(data):
            problem = "is not a signed rerun statement (a DSSE envelope in JSON)"
        else:
            found.append(Statement(shown, path.stem, data))
            continue
        raise LockstepError(
            f"{shown} {problem}: no rerun statement was sent",
            "remove it, or sign the rerun again: `invoke rerun REV` with a signing key",
        )
    return found


def _is_envelope(data: bytes) -> bool:
    """Whether the bytes are a DSSE envelope with at least one signature (not whose: verify's)."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import FormatError

    try:
        return bool(Envelope.from_dict(json.loads(data)).signatures)
    except (ValueError, KeyError, TypeError, AttributeError, FormatError):
        return False


def publish(root: Path) -> int:
    """What a validator publishes: the workspace's rerun statements alone; how many it has."""
    statements = local(root)
    send(root, statements)
    return len(statements)


def send(root: Path, statements: list[Statement]) -> None:
    """Send the statements (`local`'s) the remote lacks; say each one's fate.

    Each is written under a temporary name and renamed: a statement cut midway is never there
    under its own name.

    Raises:
        LockstepError: the remote failed (gone, refused), in one line.
    """
    if not statements:
        say(f"publish: no signed rerun statements in {signing.RERUNS}/")
        return
    remote = connect(root)
    with remote_errors(root, "push to"):
        for statement in statements:
            target = remote.fs.join(remote.of(statement.commit), statement.name)
            if remote.fs.exists(target):
                say(f"publish: the remote already has {statement.path} ({statement.shown})")
                continue
            partial = remote.fs.join(remote.of(statement.commit), f".{uuid.uuid4().hex}.tmp")
            data = statement.data
            try:
                remote.fs.put_file(io.BytesIO(data), partial, size=len(data))
                remote.fs.mv(partial, target)
            except Exception:
                with contextlib.suppress(Exception):  # a remote gone keeps it: pull skips it
                    remote.fs.rm_file(partial)
                raise
            say(f"publish: sent {statement.path} as {statement.shown}")


def collect(root: Path, commit: str, rev: str) -> int:
    """Bring the remote's rerun statements of `commit` into `.lockstep/reruns/COMMIT/`.

    A file whose bytes do not match its name is damaged in the remote: said, and not kept.
    Returns how many were kept.

    Raises:
        LockstepError: the remote failed (gone, refused), in one line.
    """
    remote = connect(root)
    with remote_errors(root, "fetch from"):
        listed = remote.fs.ls(remote.of(commit)) if remote.fs.isdir(remote.of(commit)) else []
        names = sorted(remote.fs.name(path) for path in listed)
        fetched = {
            name: remote.fs.cat_file(remote.fs.join(remote.of(commit), name))
            for name in names
            if name.endswith(".json")  # not a send's partial
        }
    if not fetched:
        say(f"pull: no rerun statements for {rev} in the remote")
        return 0
    kept = 0
    for name, data in fetched.items():
        digest = hashlib.sha256(data).hexdigest()
        if name != f"{digest}.json":
            say(
                f"pull: {PREFIX}/{commit}/{name} is damaged in the remote (its bytes' sha256 is "
                f"{digest[:12]}…): not kept"
            )
            continue
        atomic_write(root / paths.RERUNS_COLLECTED / commit / name, data)
        kept += 1
    say(f"pull: collected {kept} rerun statement(s) for {rev} in {paths.RERUNS_COLLECTED}/")
    return kept


def required(settings: Settings, engine: Engine, rev: str, tolerance: float | None) -> Quorum:
    """The quorum `[tool.lockstep.validation]` asks of `rev`, from the statements the remote holds.

    The release's statements are collected first (as `invoke pull` does), then checked against
    the validators' keys the settings name, the author's run record included.

    Raises:
        LockstepError: the remote failed, or the quorum is not there (`quorum.verify_quorum`).
    """
    validation = settings.validation
    collect(settings.root, git.resolve(settings.root, rev), rev)
    keys = settings.path(validation.keys)
    return quorum.verify_quorum(settings.root, engine, rev, validation.quorum, keys, tolerance)[1]


def connect(root: Path) -> Remote:
    """The default DVC remote, through DVC's filesystem for it.

    Raises:
        LockstepError: DVC has no default remote.
    """
    from dvc.repo import Repo

    store.check_remote(root)
    with Repo(str(root)) as repo:
        remote = repo.cloud.get_remote()
    return Remote(remote.fs, remote.fs.join(remote.path, *PREFIX.split("/")), remote.name)


@contextlib.contextmanager
def remote_errors(root: Path, action: str) -> Iterator[None]:
    """Any error of the remote's filesystem in the block, as the one line a DVC remote's gets.

    DVC's filesystems raise their library's own kinds (asyncssh's, botocore's, OSError...).
    """
    try:
        yield
    except LockstepError:
        raise
    except Exception as exc:
        raise store.remote_error(action, root, str(exc) or type(exc).__name__) from None
