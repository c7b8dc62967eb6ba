"""A signed run record: which files a run produced, and in which images, under a project key.

After a run, `reports/attestation.json` (tracked by git, next to the lineage) holds an in-toto
Statement in a DSSE envelope signed with the project's ed25519 key. Its subjects are `dvc.lock`
and every file output it records, by sha256; its predicate is the lineage's images and which
stage ran in which. `invoke verify REV` checks it with no network: the signature against the
public keys committed in `keys/`, every subject against the file at REV, the lineage against
the predicate, and each image against the one the engine has under the recorded tag.

The library signs (securesystemslib's DSSE and CryptoSigner); this module only decides what is
signed and how it is checked. The same run gives the same bytes: the JSON is written with sorted
keys and a fixed indent, and ed25519 signatures are deterministic.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from lockstep import git, yamltext
from lockstep.config import SIGNING_KEY_VARIABLE, Settings
from lockstep.engines import Engine
from lockstep.errors import AttestationError, RecordMismatchError, first_line
from lockstep.files import atomic_write
from lockstep.records import lineage
from lockstep.shell import say

PATH = "reports/attestation.json"
# The public keys verification trusts: committed, one `<keyid>.pub.pem` each.
KEYS = "keys"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://lockstep.dev/attestation/run/v1"
# A rerun's verdict, signed by whoever reran it: one file per revision reran, to commit.
RERUNS = "reports/reruns"
RERUN_PREDICATE_TYPE = "https://lockstep.dev/attestation/rerun/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
VARIABLE = SIGNING_KEY_VARIABLE
DEFAULT_KEY = "~/.config/lockstep/signing-key.pem"
LOCK = "dvc.lock"


class Workspace:
    """The files of the working tree, as a run left them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = "in the workspace"
        self.remedy = "`dvc checkout` restores DVC's outputs, `git restore` the others"

    def files(self, path: str) -> list[str]:
        """The file at `path`, or every file under the folder; none when it is missing."""
        target = self.root / path
        if target.is_dir():
            found = (p for p in target.rglob("*") if p.is_file())
            return sorted(p.relative_to(self.root).as_posix() for p in found)
        return [path] if target.is_file() else []

    def open(self, path: str) -> BinaryIO:
        """A file, opened for reading bytes."""
        return (self.root / path).open("rb")


class Revision:
    """The files of a git revision: from its git tree, DVC's outputs from the local DVC cache.

    Git's files are read from git, never through DVC, which parses dvc.lock first: a damaged one
    must be reported as a file that differs, not as DVC's error. DVC is told of no remote, so
    nothing is fetched: a file missing from the cache is reported missing (`invoke pull REV`).
    """

    def __init__(self, repo: Any, rev: str) -> None:
        self.git, self.dvc = repo.fs, repo.dvcfs
        self.where = f"at {rev}"
        self.remedy = f"`invoke pull {rev}` brings it"

    def files(self, path: str) -> list[str]:
        """The file at `path`, or every file under the folder; none when it is missing."""
        with self._dvc_errors(path):
            fs = self._fs(path)
            if fs.isdir(path):
                return sorted(name.removeprefix("/") for name in fs.find(path))
            return [path] if fs.isfile(path) else []

    def open(self, path: str) -> BinaryIO:
        """A file, opened for reading bytes."""
        with self._dvc_errors(path):
            return self._fs(path).open(path, "rb")

    def _fs(self, path: str) -> Any:
        return self.git if self.git.exists(path) else self.dvc

    @contextlib.contextmanager
    def _dvc_errors(self, path: str) -> Iterator[None]:
        from dvc.exceptions import DvcException

        try:
            yield
        except DvcException as exc:
            reason = first_line(exc)
            raise AttestationError(
                f"DVC cannot read {path} {self.where}: {reason}",
                "check the revision's dvc.yaml with `dvc status`",
            ) from None


Tree = Workspace | Revision


@contextlib.contextmanager
def tree_at(root: Path, rev: str) -> Iterator[Tree]:
    """The project's files at a revision, or in the workspace when `rev` is empty."""
    if not rev:
        yield Workspace(root)
        return
    from dvc.repo import Repo  # heavy; only verification reads a revision

    commit = git.resolve(root, rev)  # an unknown revision says so, in one line
    with Repo(str(root), rev=commit, config={"core": {"remote": ""}}) as repo:
        yield Revision(repo, rev)


def read(tree: Tree, path: str) -> bytes:
    """A whole file of the tree."""
    with _opened(tree, path) as handle:
        return handle.read()


def sha256(tree: Tree, path: str) -> str:
    """A file's sha256, read in chunks (a model can be large)."""
    with _opened(tree, path) as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@contextlib.contextmanager
def _opened(tree: Tree, path: str) -> Iterator[BinaryIO]:
    try:
        handle = tree.open(path)
    except FileNotFoundError:
        raise AttestationError(f"{path} {tree.where} is missing", tree.remedy) from None
    with handle:
        yield handle


def subjects(tree: Tree) -> dict[str, str]:
    """The sha256 of dvc.lock and of every file output it records, by relative path."""
    text = read(tree, LOCK)
    found = {LOCK: hashlib.sha256(text).hexdigest()}
    for output in sorted(lineage.output_hashes(yamltext.load(text.decode()) or {})):
        found.update({name: sha256(tree, name) for name in tree.files(output)})
    return found


def predicate(record: lineage.LineageRecord) -> dict[str, Any]:
    """What the run record says of the environment: every image, and which stage ran where.

    Each image carries every field of its lineage environment, so any the lineage gains is
    signed too. A stage carries what may differ between runs in one image.
    """
    images = {image_id: asdict(run.environment) for image_id, run in record.images().items()}
    stages = {
        name: {
            "image_id": run.environment.image_id,
            "where": run.environment.where,
            "commit": run.environment.commit,
            "dirty": run.environment.dirty,
            "ran_at": run.ran_at,
        }
        for name, run in record.stages.items()
    }
    # As JSON gives it back, so that a signed predicate compares equal to a recomputed one.
    return json.loads(json.dumps({"images": images, "stages": stages}))


def statement(
    digests: dict[str, str], record: lineage.LineageRecord | dict, kind: str = PREDICATE_TYPE
) -> dict[str, Any]:
    """An in-toto Statement v1: of a run (a lineage record), or of a rerun (its predicate)."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": digests[name]}} for name in digests],
        "predicateType": kind,
        "predicate": record if isinstance(record, dict) else predicate(record),
    }


def canonical(data: Any) -> bytes:
    """JSON with sorted keys and a fixed indent: the same data, the same bytes."""
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def sign(document: dict[str, Any], signer: Any) -> bytes:
    """The statement in a DSSE envelope signed by `signer`, as the file stores it."""
    from securesystemslib.dsse import Envelope

    envelope = Envelope(canonical(document), PAYLOAD_TYPE, {})
    envelope.sign(signer)
    return canonical(envelope.to_dict())


def key_path(settings: Settings) -> Path | None:
    """The private key runs are signed with, or None when none is configured.

    Raises:
        AttestationError: the key is inside the project, where it could be committed.
    """
    configured = settings.signing_key_file()
    if not configured:
        return None
    return outside_project(settings.root, Path(configured))


def outside_project(root: Path, path: Path) -> Path:
    """`path` made absolute (`~` expanded, relative to the project), refused inside it.

    Raises:
        AttestationError: the path is inside the project.
    """
    resolved = (root / path.expanduser()).resolve()
    if resolved.is_relative_to(root.resolve()):
        raise AttestationError(
            f"the signing key {path} is inside the project: a key must never be committed",
            f"move it out, e.g. to {DEFAULT_KEY}, and point {VARIABLE} at it",
        )
    return resolved


def load_signer(path: Path) -> Any:
    """A CryptoSigner of the ed25519 private key in a PEM PKCS#8 file.

    Raises:
        AttestationError: no such file, or not an unencrypted ed25519 key.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner

    try:
        private = load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise AttestationError(
            f"no signing key at {path}",
            f"make one with `invoke keygen`, or point {VARIABLE} at yours",
        ) from None
    except (ValueError, TypeError):
        private = None
    if not isinstance(private, Ed25519PrivateKey):
        raise AttestationError(
            f"{path} is not an unencrypted ed25519 private key (PEM PKCS#8)",
            "make one with `invoke keygen`",
        )
    return CryptoSigner(private)


def after_run(settings: Settings, record: lineage.LineageRecord) -> None:
    """Sign the run's record when a key is configured; else say, in one line, how to."""
    path = key_path(settings)
    if path is None:
        say(
            f"{PATH} not written: the run is not signed; to sign runs, make a key with "
            f"`invoke keygen` and set {VARIABLE} (or [tool.lockstep] signing_key) to it"
        )
        return
    signer = load_signer(path)
    document = statement(subjects(Workspace(settings.root)), record)
    atomic_write(settings.root / PATH, sign(document, signer))
    say(f"signed {PATH} with key {signer.public_key.keyid[:12]}")


def after_rerun(settings: Settings, commit: str, verdict: dict[str, Any]) -> Path | None:
    """Sign a rerun's verdict as a second statement; its path, or None with no key configured.

    Its subjects are the revision's `dvc.lock` and signed run record (when it has one), by
    sha256: the verdict names exactly the result it reproduced. Its predicate is the verdict,
    the commit, who reran it on which host, and when (this statement records an event, so its
    time is the clock's). Written to reports/reruns/COMMIT.json, for the validator to commit.
    """
    path = key_path(settings)
    if path is None:
        return None
    signer = load_signer(path)
    with tree_at(settings.root, commit) as tree:
        digests = {name: sha256(tree, name) for name in (LOCK, PATH) if tree.files(name)}
    predicate = {
        "commit": commit,
        **verdict,
        "by": getpass.getuser(),
        "host": socket.gethostname(),
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    target = settings.root / RERUNS / f"{commit}.json"
    atomic_write(target, sign(statement(digests, predicate, RERUN_PREDICATE_TYPE), signer))
    return target


def keygen(root: Path, output: str = "") -> tuple[Path, Path]:
    """Make an ed25519 key pair: the private key at `output`, the public one in `keys/`.

    The private key is written with mode 0600 and never over another file: a key that signed
    records must not be lost. Returns both paths.

    Raises:
        AttestationError: `output` is inside the project, or exists.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from securesystemslib.signer import CryptoSigner

    target = outside_project(root, Path(output or DEFAULT_KEY))
    if target.exists():
        raise AttestationError(
            f"{target} exists: a signing key is never overwritten",
            "use that key, or give another --output",
        )
    private = Ed25519PrivateKey.generate()
    signer = CryptoSigner(private)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        out.write(signer.private_bytes)
    public = root / KEYS / f"{signer.public_key.keyid}.pub.pem"
    pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    atomic_write(public, pem)
    return target, public


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
        reruns = [_signed(tree, keys, name, RERUN_PREDICATE_TYPE)[0] for name in signed]
    for rerun in reruns:
        _check_rerun(root, rerun)
    images = _check_images(engine, document["predicate"]["images"], rev or "HEAD")
    return Verified(where, keyid, trusted, count, len(record.stages), images, len(reruns))


def _check_rerun(root: Path, document: dict[str, Any]) -> None:
    """A rerun verdict's subjects against the files of the commit it names."""
    commit = document["predicate"]["commit"]
    signed = {item["name"]: item["digest"]["sha256"] for item in document["subject"]}
    with tree_at(root, commit) as tree:
        for name, recorded in sorted(signed.items()):
            _compare(tree, name, recorded, sha256(tree, name))


def _signed(
    tree: Tree, keys: Path | None, path: str = PATH, kind: str = PREDICATE_TYPE
) -> tuple[dict[str, Any], str, str]:
    """The statement in a signed file of the tree, once its signature verifies.

    The key must be one `Trusted.of(tree, keys)` trusts; its id and where it was trusted from
    are returned with the statement.
    """
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import FormatError, VerificationError

    try:
        text = read(tree, path)
    except AttestationError:
        raise AttestationError(
            f"no signed run record: {path} {tree.where} is missing",
            f"sign runs with a key (`invoke keygen`, then {VARIABLE}) and run `invoke repro`",
        ) from None
    try:
        envelope = Envelope.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError, FormatError):
        raise AttestationError(
            f"{path} {tree.where} is not a DSSE envelope", "restore it from git"
        ) from None
    trusted = Trusted.of(tree, keys)
    try:
        accepted = envelope.verify(trusted.keys, 1)
    except VerificationError:
        signers = ", ".join(keyid[:12] for keyid in envelope.signatures) or "nobody"
        raise RecordMismatchError(
            f"{path} {tree.where}: the signature does not verify with any key in "
            f"{trusted.where} (signed by {signers})"
        ) from None
    document = json.loads(envelope.payload) if envelope.payload_type == PAYLOAD_TYPE else {}
    if document.get("_type") != STATEMENT_TYPE or document.get("predicateType") != kind:
        raise AttestationError(
            f"{path} {tree.where} is not a lockstep {kind.split('/')[-2]} record"
        )
    return document, next(iter(accepted)), trusted.where


@dataclass(frozen=True)
class Trusted:
    """The public keys a check trusts, and where they were read (for its messages)."""

    keys: list[Any]
    where: str

    @classmethod
    def of(cls, tree: Tree, folder: Path | None) -> Trusted:
        """The `.pub.pem` keys in `folder`, or else those committed in `keys/` in `tree`."""
        if folder is None:
            names = [name for name in tree.files(KEYS) if name.endswith(".pub.pem")]
            found = cls(
                [_public_key(name, read(tree, name), tree.where) for name in names], f"{KEYS}/"
            )
            remedy = "commit the public key `invoke keygen` wrote"
        elif folder.is_dir():
            paths = sorted(folder.glob("*.pub.pem"))
            found = cls(
                [_public_key(p.name, p.read_bytes(), f"in {folder}") for p in paths], f"{folder}/"
            )
            remedy = "copy the project's public keys (its keys/ folder) into it"
        else:
            raise AttestationError(f"no folder of trusted keys at {folder}", "name a folder")
        if not found.keys:
            raise AttestationError(
                f"no trusted key {tree.where}: {found.where} holds no .pub.pem file", remedy
            )
        return found


def _public_key(name: str, pem: bytes, where: str) -> Any:
    """An ed25519 public key from its PEM text."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey

    try:
        return SSlibKey.from_crypto(load_pem_public_key(pem))
    except ValueError:
        raise AttestationError(
            f"{name} {where} is not a PEM ed25519 public key", "restore it from git"
        ) from None


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
