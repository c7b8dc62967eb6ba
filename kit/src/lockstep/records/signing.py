"""A signed run record: which files a run produced, and in which images, under a project key.

After a run, `reports/attestation.json` (tracked by git, next to the lineage) holds an in-toto
Statement in a DSSE envelope signed with the project's ed25519 key (`lockstep.records.keys`).
Its subjects are `dvc.lock` and every file output it records, by sha256; its predicate is the
lineage's images and which stage ran in which. A rerun's verdict is signed the same way, as a
second kind of statement: a SLSA verification summary (`after_rerun`).
`lockstep.records.verify` checks both, `lockstep.records.quorum` counts the reruns.

The library signs (securesystemslib's DSSE and CryptoSigner); this module only decides what is
signed. The same run gives the same bytes: the JSON is written with sorted keys and a fixed
indent, and ed25519 signatures are deterministic.
"""

from __future__ import annotations

import getpass
import json
import socket
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lockstep import __version__
from lockstep.config import Settings
from lockstep.engines import Engine
from lockstep.files import atomic_write
from lockstep.records import lineage
from lockstep.records.keys import VARIABLE, key_path, load_signer
from lockstep.records.trees import LOCK, Workspace, sha256, subjects, tree_at
from lockstep.shell import say

PATH = "reports/attestation.json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://lockstep.dev/attestation/run/v1"
# A rerun's verdict, signed by whoever reran it: one file per revision reran, to commit.
RERUNS = "reports/reruns"
# Its predicate: SLSA's verification summary, the standard shape of "this verifier checked this
# resource against this policy, and it passed"; the rerun's details are fields of its own, which
# in-toto's parsing rules tell consumers to ignore. The kit's first predicate is still verified.
RERUN_PREDICATE_TYPE = "https://slsa.dev/verification_summary/v1"
RERUN_V1_PREDICATE_TYPE = "https://lockstep.dev/attestation/rerun/v1"
RERUN_KINDS = (RERUN_PREDICATE_TYPE, RERUN_V1_PREDICATE_TYPE)
VERIFIER = "https://lockstep.dev/rerun"
POLICY = "https://lockstep.dev/policy/rerun-identical/v1"
LEVEL = "LOCKSTEP_RERUN_IDENTICAL"
PAYLOAD_TYPE = "application/vnd.in-toto+json"


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


def after_rerun(
    settings: Settings,
    commit: str,
    verdict: dict[str, Any],
    facts: dict | None = None,
    engine: Engine | None = None,
) -> Path | None:
    """Sign a rerun's verdict as a second statement; its path, or None with no key configured.

    Its subjects are the revision's `dvc.lock` and signed run record (when it has one), by
    sha256: the verdict names exactly the result it reproduced. Its predicate is a SLSA
    verification summary of the commit (`verificationResult` PASSED when identical), with the
    verdict (`Verdict.attested`), who reran it, and the machine: host, the engine's ID and the
    machine probe's `facts` (a quorum counts machines by these). Its time is the clock's: this
    statement records an event. Written to reports/reruns/COMMIT.json.
    """
    path = key_path(settings)
    if path is None:
        return None
    signer = load_signer(path)
    with tree_at(settings.root, commit) as tree:
        digests = {name: sha256(tree, name) for name in (LOCK, PATH) if tree.files(name)}
    passed = verdict.get("verdict") == "identical"
    # The signed run record this rerun checked the commit's results against.
    inputs = [{"uri": PATH, "digest": {"sha256": digests[PATH]}}] if PATH in digests else []
    summary = {
        "verifier": {"id": VERIFIER, "version": {"lockstep-kit": __version__}},
        "timeVerified": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resourceUri": f"git+{commit}",
        "policy": {"uri": POLICY},
        "inputAttestations": inputs,
        "verificationResult": "PASSED" if passed else "FAILED",
        "verifiedLevels": [LEVEL] if passed else [],
        "slsaVersion": "1.0",
    }
    machine = {
        "host": socket.gethostname(),
        "engine": engine.engine_id() if engine else "",
        "facts": facts or {},
    }
    predicate = {
        **summary,
        "commit": commit,
        **verdict,
        "by": getpass.getuser(),
        "machine": machine,
    }
    target = settings.root / RERUNS / f"{commit}.json"
    atomic_write(target, sign(statement(digests, predicate, RERUN_PREDICATE_TYPE), signer))
    return target
