"""A quorum of reruns: `invoke verify REV --quorum N --keys FOLDER`.

A release counts as reproduced when its author's run record holds and at least N others reran
it and signed the same verdict: N distinct keys the validator trusts (the `*.pub.pem` files of a
folder the validator keeps), on N distinct machines (by the host, the engine's ID and the
machine probe's facts each statement records). The statements are the commit's signed reruns
(`signing.after_rerun`), collected from `.lockstep/reruns/COMMIT/` (where `invoke pull` puts
those published by others) and the workspace's `reports/reruns/COMMIT.json`.

Every statement found must hold, or the check fails on the first that does not, in one line
naming its file: one that cannot be trusted is a sign that something is wrong, not a vote to
leave out. The author's own key may rerun too; its statement is shown, never counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lockstep import git
from lockstep.engines import Engine
from lockstep.errors import AttestationError, ConfigError, RecordMismatchError
from lockstep.records import verify
from lockstep.records.keys import Trusted
from lockstep.records.signing import (
    COLLECTED,
    PATH,
    RERUN_KINDS,
    RERUN_PREDICATE_TYPE,
    RERUNS,
)
from lockstep.records.trees import LOCK, Workspace


@dataclass(frozen=True)
class Statement:
    """A signed rerun statement for the commit whose signature verified."""

    file: str  # where it was found, relative to the project
    keyid: str
    who: str  # the key's holder as trust.toml names it, else the user who reran
    predicate: dict[str, Any]
    document: dict[str, Any]
    author: bool = False  # signed by the key of the author's run record: shown, not counted

    @property
    def machine(self) -> dict[str, Any]:
        """The machine it was made on: host, engine ID, the probe's facts."""
        return self.predicate.get("machine") or {}

    def where(self) -> str:
        """The machine, short: host, engine ID, CPU model."""
        cpu = (self.machine.get("facts") or {}).get("cpu") or {}
        engine = self.machine.get("engine", "")[:14] or "?"
        return f"{self.machine.get('host', '?')}, engine {engine}, {cpu.get('model') or '?'}"

    def verdict(self) -> str:
        """`identical`, or identical `within tolerance T`, or the verdict's own word."""
        tolerance = self.predicate.get("tolerance")
        word = self.predicate.get("verdict", "?")
        return f"within tolerance {tolerance:g}" if word == "identical" and tolerance else word

    def compared(self) -> list[list[str]]:
        """The outputs and metrics this rerun compared."""
        return [sorted(self.predicate.get(kind) or {}) for kind in ("outputs", "metrics")]


@dataclass(frozen=True)
class Quorum:
    """What `check` found: the statements (the author's among them), and how many are needed."""

    commit: str
    needed: int
    statements: list[Statement] = field(default_factory=list)

    def counted(self) -> list[Statement]:
        """The statements that count toward the quorum: all but the author's."""
        return [statement for statement in self.statements if not statement.author]

    def reached(self, rev: str) -> None:
        """Raise unless enough statements count.

        Raises:
            AttestationError: fewer than `needed` (exit 2: statements are missing).
        """
        if len(self.counted()) < self.needed:
            places = f"{COLLECTED}/{self.commit[:12]}…/ and {RERUNS}/{self.commit[:12]}….json"
            raise AttestationError(
                f"{len(self.counted())} of {self.needed} needed: signed reruns of commit "
                f"{self.commit[:12]} in {places} by distinct trusted keys other than the author's",
                f"bring the validators' statements with `invoke pull {rev}`, or ask for more "
                "reruns",
            )

    def table(self) -> str:
        """Who reran, where, when, with which verdict; then the quorum's line."""
        rows = [("key", "who", "where", "when", "verdict")]
        for s in self.statements:
            mark = " (the author's key: not counted)" if s.author else ""
            at = s.predicate.get("timeVerified", "")
            rows.append((s.keyid[:12], s.who, s.where(), at, s.verdict() + mark))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(f"{c:{w}}" for c, w in zip(row, [*widths, 0], strict=True)) for row in rows
        ]
        counted = self.counted()
        keys = ", ".join(s.keyid[:12] for s in counted)
        lines.append(
            f"quorum: {len(counted)} of {self.needed} needed: keys {keys} reproduced commit "
            f"{self.commit[:12]} on {len(counted)} machines"
        )
        return "\n".join(line.rstrip() for line in lines)


def collect(root: Path, commit: str) -> dict[str, bytes]:
    """The commit's statements, by file, from wherever they were brought; each bytes once.

    Those `invoke pull` brought to `.lockstep/reruns/COMMIT/`, and the workspace's
    `reports/reruns/COMMIT.json` (a rerun here, or the one committed).
    """
    folder = root / COLLECTED / commit
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    paths += [p for p in [root / RERUNS / f"{commit}.json"] if p.is_file()]
    found: dict[str, bytes] = {}
    for path in paths:
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


def _check_alone(s: Statement, commit: str, expires: datetime | None, tolerance) -> None:
    """One statement: for this commit, made while its key was trusted, identical, by a machine."""
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
    made = datetime.fromisoformat(p["timeVerified"])
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
        # A machine is its host, its engine and its facts: all of them, compared as recorded.
        machine = json.dumps(s.machine, sort_keys=True)
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
