"""A quorum of reruns: `invoke verify REV --quorum N --keys FOLDER`.

A release counts as reproduced when its author's run record holds and at least N others reran
it and signed the same verdict: N distinct keys the validator trusts (the `*.pub.pem` files of a
folder the validator keeps), on N distinct machines (by the host, the engine's ID and the CPU
each statement records). The statements are the commit's signed reruns
(`signing.after_rerun`), collected from `.lockstep/reruns/COMMIT/` (where `invoke pull` puts
those published by others) and the workspace's `reports/reruns/COMMIT.json`.

Every statement found must hold, or the check fails on the first that does not, in one line
naming its file: one that cannot be trusted is a sign that something is wrong, not a vote to
leave out. The author's own key may rerun too; its statement is shown, never counted.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from lockstep import git, paths
from lockstep.engines import Engine
from lockstep.errors import AttestationError, ConfigError, RecordMismatchError
from lockstep.records import verify
from lockstep.records.keys import Trusted
from lockstep.records.reruns import Quorum, Statement
from lockstep.records.signing import (
    PATH,
    RERUN_KINDS,
    RERUN_PREDICATE_TYPE,
    RERUNS,
)
from lockstep.records.trees import LOCK, Workspace


def collect(root: Path, commit: str) -> dict[str, bytes]:
    """The commit's statements, by file, from wherever they were brought; each bytes once.

    Those `invoke pull` brought to `.lockstep/reruns/COMMIT/`, and the workspace's
    `reports/reruns/COMMIT.json` (a rerun here, or the one committed).
    """
    folder = root / paths.RERUNS_COLLECTED / commit
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    files += [p for p in [root / RERUNS / f"{commit}.json"] if p.is_file()]
    found: dict[str, bytes] = {}
    for path in files:
        data = path.read_bytes()
        if data not in found.values():
            found[path.relative_to(root).as_posix()] = data
    return found


def check(
    commit: str,
    files: dict[str, bytes],
    trusted: Trusted,
    author: str,
    needed: int,
    tolerance: float | None = None,
) -> Quorum:
    """Judge the statements for `commit`, each alone and together (`Quorum.reached` counts them).

    `files` holds each one's bytes by the file it was found in (`collect`); `trusted` the keys
    the validator keeps and their holders; `author` the keyid of the author's run record;
    `tolerance` the largest a statement may have declared (any, when None).

    Raises:
        RecordMismatchError: a statement does not hold (its file and why, in one line).
        AttestationError: one cannot be read, or records no machine.
    """
    statements = [opened(file, data, trusted, author) for file, data in files.items()]
    for s in statements:
        _check_alone(s, commit, trusted.holder(s.keyid).expires, tolerance)
    _check_together(statements)
    return Quorum(commit, needed, statements)


def opened(file: str, data: bytes, trusted: Trusted, author: str) -> Statement:
    """The statement in a file, once its signature verifies with a trusted key.

    Raises:
        RecordMismatchError: it is signed by a key not trusted, or its bytes were edited.
        AttestationError: it is not a signed rerun statement.
    """
    try:
        document, keyid = verify.opened(data, file, trusted, RERUN_KINDS, "remove it")
    except RecordMismatchError as exc:
        # An envelope (it parsed): edited, when a trusted key signed it; else an unknown key's.
        signers = {signature["keyid"] for signature in json.loads(data)["signatures"]}
        if signers & {key.keyid for key in trusted.keys}:
            raise RecordMismatchError(
                exc.message, "its bytes changed after the signing: remove it, and pull it again"
            ) from None
        raise RecordMismatchError(
            f"{file}: signed by key {', '.join(k[:12] for k in sorted(signers))}, which "
            f"{trusted.where} does not trust",
            "add its public key there if you trust its holder, or remove the statement",
        ) from None
    predicate = document["predicate"]
    who = trusted.holder(keyid).name or predicate.get("by", "?")
    return Statement(file, keyid, who, predicate, document, keyid == author)


def _check_alone(
    s: Statement, commit: str, expires: datetime | None, tolerance: float | None
) -> None:
    """One statement: for this commit, by a machine, made while its key was trusted, identical."""
    p = s.predicate
    if p.get("commit") != commit:
        raise RecordMismatchError(
            f"{s.file}: a statement for commit {str(p.get('commit'))[:12]}, not {commit[:12]}",
            "remove it: it vouches for another commit",
        )
    if s.document["predicateType"] != RERUN_PREDICATE_TYPE:
        raise AttestationError(
            f"{s.file}: a rerun/v1 statement, which records no machine: it cannot count",
            "rerun the revision with this kit and publish its statement",
        )
    try:
        made = datetime.fromisoformat(p.get("timeVerified", ""))
    except ValueError:
        raise AttestationError(f"{s.file}: it says not when it was made", "remove it") from None
    # The signer's own clock dates a statement, so expiry cannot stop a stolen key, which can
    # backdate: removing the key's file from the folder is how to revoke it. Expiry ends a
    # validator's mandate while keeping what they signed during it.
    if expires is not None and made >= expires:
        raise RecordMismatchError(
            f"{s.file}: made {p['timeVerified']}, after key {s.keyid[:12]} expired on "
            f"{expires:%Y-%m-%d}",
            "extend its expiry in the folder's trust.toml if you trust it still, or ask for a "
            "new rerun",
        )
    if p.get("verdict") != "identical" or p.get("verificationResult") != "PASSED":
        raise RecordMismatchError(
            f"{s.file}: its verdict is {p.get('verdict')} ({p.get('detail', '')}), not identical"
        )
    declared = p.get("tolerance")
    if declared is not None and tolerance is not None and declared > tolerance:
        raise RecordMismatchError(
            f"{s.file}: identical within tolerance {declared:g}, above --tolerance {tolerance:g}"
        )


def _check_together(statements: list[Statement]) -> None:
    """No key twice, no machine twice among those counted, and all compared the same things."""
    by_key: dict[str, Statement] = {}
    by_machine: dict[str, Statement] = {}
    for s in statements:
        if s.keyid in by_key:
            raise RecordMismatchError(
                f"{s.file}: key {s.keyid[:12]} also signed {by_key[s.keyid].file}: "
                "a key counts once",
                "remove one of them",
            )
        by_key[s.keyid] = s
        machine = s.identity()
        if not s.author:  # the author's rerun counts for nothing: its machine may be reused
            if machine in by_machine:
                raise RecordMismatchError(
                    f"{s.file}: from the same machine as {by_machine[machine].file} "
                    f"({s.where()}): a quorum needs distinct machines"
                )
            by_machine[machine] = s
        first = statements[0]
        if s.compared() != first.compared():
            raise RecordMismatchError(
                f"{s.file}: compared other outputs or metrics than {first.file}"
            )


def verify_quorum(
    root: Path,
    engine: Engine,
    rev: str,
    needed: int,
    keys: Path | None,
    tolerance: float | None = None,
) -> tuple[verify.Verified, Quorum]:
    """The author's run record at `rev` checked, then a quorum of reruns of its commit.

    The record as `verify.verify` checks it, trusting the validator's `keys` folder; the
    reruns (`collect`) as `check` does, each one's subjects against the commit's files.

    Raises:
        AttestationError: `keys` is None, or something needed is missing (exit 2).
        ConfigError: `needed` is less than 1.
        RecordMismatchError: a record or a statement does not hold (exit 1).
    """
    if needed < 1:
        raise ConfigError(f"--quorum {needed}: a quorum is 1 or more", "give e.g. --quorum 2")
    if keys is None:
        raise AttestationError(
            "--quorum needs --keys FOLDER: the public keys you, the validator, keep",
            "a committed keys/ can be replaced by whoever commits; pass your own folder",
        )
    verified = verify.verify(root, engine, rev, keys)
    commit = git.resolve(root, rev or "HEAD")
    trusted = Trusted.of(Workspace(root), keys)
    found = check(commit, collect(root, commit), trusted, verified.keyid, needed, tolerance)
    for s in found.statements:
        _check_subjects(root, s)
    found.reached(rev or "HEAD")
    return verified, found


def _check_subjects(root: Path, s: Statement) -> None:
    """Its subjects are the commit's dvc.lock and run record, as they are; one line if not."""
    names = {item["name"] for item in s.document["subject"]}
    try:
        if not {LOCK, PATH} <= names:
            raise RecordMismatchError(f"it names not both {LOCK} and {PATH}")
        verify.check_rerun(root, s.document)
    except AttestationError as exc:
        raise type(exc)(f"{s.file}: {exc.message}", exc.hint) from None
