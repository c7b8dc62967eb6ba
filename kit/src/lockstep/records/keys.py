"""The project's ed25519 keys: the private one runs are signed with, the public ones trusted.

The private key lives outside the project (it must never be committed), named by a variable or
the `signing_key` setting; `invoke keygen` makes a pair and writes the public half in `keys/`,
one `<keyid>.pub.pem` each, to commit. Verification trusts those, or a folder of public keys
kept by whoever checks, whose `trust.toml` may name each key's holder and its expiry.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from lockstep.config import SIGNING_KEY_VARIABLE, Settings
from lockstep.errors import AttestationError
from lockstep.files import atomic_write
from lockstep.records.trees import Tree, read

# The public keys verification trusts: committed, one `<keyid>.pub.pem` each.
KEYS = "keys"
VARIABLE = SIGNING_KEY_VARIABLE
DEFAULT_KEY = "~/.config/lockstep/signing-key.pem"
# In a folder of trusted keys, optional: `[keys."<keyid>"]` with `name` and `expires` (a date).
TRUST = "trust.toml"


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
class Trusted:
    """The public keys a check trusts, and where they were read (for its messages)."""

    keys: list[Any]
    where: str
    holders: dict[str, Holder] = field(default_factory=dict)  # a folder's trust.toml, by keyid

    def holder(self, keyid: str) -> Holder:
        """Who holds a key and until when it counts, as far as the folder's trust.toml says."""
        return self.holders.get(keyid, Holder())

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
                [_public_key(p.name, p.read_bytes(), f"in {folder}") for p in paths],
                f"{folder}/",
                holders(folder),
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


@dataclass(frozen=True)
class Holder:
    """What a validator's `trust.toml` says of one key: who holds it, until when it counts."""

    name: str = ""
    expires: datetime | None = None  # a statement made from then on does not count


def holders(folder: Path) -> dict[str, Holder]:
    """Each key's holder, by keyid, from `folder`'s trust.toml; none when it has no such file.

    Raises:
        AttestationError: the file is no TOML, or an entry is not a name and a date.
    """
    path = folder / TRUST
    if not path.is_file():
        return {}
    try:
        entries = tomllib.loads(path.read_text()).get("keys", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AttestationError(f"{path} is not TOML: {exc}", "correct it") from None
    found = {}
    for keyid, entry in entries.items():
        name, expires = entry.get("name", ""), entry.get("expires")
        if not isinstance(name, str) or not isinstance(expires, date | None):
            raise AttestationError(
                f'{path}: [keys."{keyid}"] needs a text name and a date expires',
                'write e.g. name = "Ada Lovelace" and expires = 2027-12-31',
            )
        if isinstance(expires, date) and not isinstance(expires, datetime):
            expires = datetime(expires.year, expires.month, expires.day, tzinfo=UTC)
        elif isinstance(expires, datetime) and expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        found[keyid] = Holder(name, expires)
    return found
