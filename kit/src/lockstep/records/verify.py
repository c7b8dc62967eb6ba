"""Checking a signed run record offline: `invoke verify REV`.

With no network: the signature against the trusted public keys (`lockstep.records.keys`),
every subject against the file at REV, the lineage against the predicate, each image against
the one the engine has under the recorded tag, and every signed rerun verdict at REV against
the result it names. The first thing that differs is reported, in one line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockstep.engines import Engine
from lockstep.errors import AttestationError, RecordMismatchError
from lockstep.records import lineage
from lockstep.records.keys import VARIABLE, Trusted
from lockstep.records.signing import (
    PATH,
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    RERUN_KINDS,
    RERUNS,
    STATEMENT_TYPE,
    predicate,
)
from lockstep.records.trees import LOCK, Tree, read, sha256, subjects, tree_at


@dataclass(frozen=True)
class Verified:
    """What `verify` checked, for the report of a record that holds."""

    where: str
    keyid: str
    trusted: str  # where the key was trusted from: `keys/` at the revision, or a folder
    subjects: int
    stages: int
    images: dict[str, str]  # the tag each image was recorded under: its id
    reruns: int = 0  # signed rerun verdicts, each checked against the result it names

    def summary(self) -> str:
        """What was verified, a line per kind of check."""
        images = ", ".join(f"{tag} ({image_id[:19]})" for tag, image_id in self.images.items())
        lines = [
            f"verified {PATH} {self.where}: signed by key {self.keyid[:12]} of {self.trusted}",
            f"  {self.subjects} subjects (dvc.lock and every output it records): as signed",
            f"  {lineage.PATH}: as signed ({self.stages} stages)",
            f"  images under their recorded tags in the engine: {images}",
        ]
        if self.reruns:
            lines.append(f"  {self.reruns} signed rerun verdicts ({RERUNS}/): as signed")
        return "\n".join(lines)


def verify(root: Path, engine: Engine, rev: str, keys: Path | None = None) -> Verified:
    """Check a revision's signed run record (the workspace's when `rev` is empty), offline.

    Args:
        root: the project.
        engine: the engine whose images are compared with the recorded ones.
        rev: the revision whose record is checked.
        keys: a folder of the public keys to trust, kept by whoever checks; by default those
            committed in `keys/` at `rev` (which whoever can commit can also replace).

    Raises:
        AttestationError: the first thing that differs from the signed record, in one line.
    """
    with tree_at(root, rev) as tree:
        document, keyid, trusted = _signed(tree, keys)
        count = _check_subjects(tree, document)
        record = lineage.parse(read(tree, lineage.PATH).decode(), f"{lineage.PATH} {tree.where}")
        difference = _difference(document["predicate"], predicate(record))
        if difference:
            raise RecordMismatchError(
                f"{lineage.PATH} {tree.where} does not match the signed record ({difference})"
            )
        where = tree.where
        # Each verdict's page (`invoke rerun --html`) lies next to it, signed by nothing.
        signed = [name for name in tree.files(RERUNS) if name.endswith(".json")]
        reruns = [_signed(tree, keys, name, RERUN_KINDS)[0] for name in signed]
    for rerun in reruns:
        check_rerun(root, rerun)
    images = _check_images(engine, document["predicate"]["images"], rev or "HEAD")
    return Verified(where, keyid, trusted, count, len(record.stages), images, len(reruns))


def check_rerun(root: Path, document: dict[str, Any]) -> None:
    """A rerun verdict's subjects against the files of the commit it names."""
    commit = document["predicate"]["commit"]
    signed = {item["name"]: item["digest"]["sha256"] for item in document["subject"]}
    with tree_at(root, commit) as tree:
        for name, recorded in sorted(signed.items()):
            _compare(tree, name, recorded, sha256(tree, name))


def _signed(
    tree: Tree, keys: Path | None, path: str = PATH, kinds: tuple[str, ...] = (PREDICATE_TYPE,)
) -> tuple[dict[str, Any], str, str]:
    """The statement in a signed file of the tree, once its signature verifies.

    The key must be one `Trusted.of(tree, keys)` trusts; its id and where it was trusted from
    are returned with the statement.
    """
    try:
        text = read(tree, path)
    except AttestationError:
        raise AttestationError(
            f"no signed run record: {path} {tree.where} is missing",
            f"sign runs with a key (`invoke keygen`, then {VARIABLE}) and run `invoke repro`",
        ) from None
    trusted = Trusted.of(tree, keys)
    document, keyid = opened(text, f"{path} {tree.where}", trusted, kinds, "restore it from git")
    return document, keyid, trusted.where


def opened(
    data: bytes, label: str, trusted: Trusted, kinds: tuple[str, ...], remedy: str
) -> tuple[dict[str, Any], str]:
    """A statement of one of `kinds` in a DSSE envelope a trusted key signed; that key's id.

    `label` names the file in messages, `remedy` says what to do with one that is no envelope.

    Raises:
        RecordMismatchError: no trusted key's signature verifies.
        AttestationError: it is no envelope, or holds no statement of these kinds.
    """
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import FormatError, VerificationError

    try:
        envelope = Envelope.from_dict(json.loads(data))
    except (ValueError, KeyError, TypeError, FormatError):
        raise AttestationError(f"{label} is not a DSSE envelope", remedy) from None
    try:
        accepted = envelope.verify(trusted.keys, 1)
    except VerificationError:
        signers = ", ".join(keyid[:12] for keyid in envelope.signatures) or "nobody"
        raise RecordMismatchError(
            f"{label}: the signature does not verify with any key in "
            f"{trusted.where} (signed by {signers})"
        ) from None
    document = json.loads(envelope.payload) if envelope.payload_type == PAYLOAD_TYPE else {}
    if document.get("_type") != STATEMENT_TYPE or document.get("predicateType") not in kinds:
        what = "rerun" if kinds == RERUN_KINDS else "run"
        raise AttestationError(f"{label} is not a lockstep {what} record")
    return document, next(iter(accepted))


def _check_subjects(tree: Tree, document: dict[str, Any]) -> int:
    """Compare every subject with the tree's file; return how many were checked."""
    signed = {item["name"]: item["digest"]["sha256"] for item in document["subject"]}
    # dvc.lock first: it names every other subject, and a damaged one may not even parse.
    _compare(tree, LOCK, signed.get(LOCK), hashlib.sha256(read(tree, LOCK)).hexdigest())
    found = subjects(tree)
    for name in sorted(signed.keys() | found.keys()):
        _compare(tree, name, signed.get(name), found.get(name))
    return len(found)


def _compare(tree: Tree, name: str, recorded: str | None, actual: str | None) -> None:
    """One subject's sha256 as signed and as found in the tree; one line when they differ."""
    if recorded is None:
        raise RecordMismatchError(
            f"{name} {tree.where} is not in the signed record: it came after the signing"
        )
    if actual is None:
        raise AttestationError(
            f"{name} {tree.where} is missing (the signed record has sha256 {recorded[:12]}…)",
            tree.remedy,
        )
    if actual != recorded:
        tree.check_cache(name)  # a damaged cache is this machine's fault, not the record's
        raise RecordMismatchError(
            f"{name} {tree.where} does not match the signed record "
            f"(sha256 {actual[:12]}… != {recorded[:12]}…)"
        )


def _difference(signed: Any, actual: Any, where: str = "") -> str:
    """The first field where two JSON values differ, as `path: now != signed`; "" if none."""
    if isinstance(signed, dict) and isinstance(actual, dict):
        for key in sorted(signed.keys() | actual.keys()):
            found = _difference(signed.get(key), actual.get(key), f"{where}.{key}".lstrip("."))
            if found:
                return found
        return ""
    return "" if signed == actual else f"{where}: {actual!r} != signed {signed!r}"


def _check_images(engine: Engine, images: dict[str, dict], rev: str) -> dict[str, str]:
    """Each signed image must be what the engine has under its recorded tag; their tags."""
    found = {}
    for image_id, environment in sorted(images.items()):
        tag = environment.get("image_tag") or image_id
        present = engine.image_id(tag)
        if present is None:
            raise AttestationError(
                f"image {tag} ({image_id[:19]}) is not in the engine",
                f"bring it with `invoke pull {rev}`, then verify again",
            )
        if present != image_id:
            raise RecordMismatchError(
                f"image {tag} in the engine does not match the signed record "
                f"(id {present[:19]}… != {image_id[:19]}…)",
                f"remove that tag (`docker image rm {tag}`) and bring the recorded image "
                f"with `invoke pull {rev}`",
            )
        found[tag] = image_id
    return found
