"""`invoke verify REV --quorum N --keys FOLDER`: real keys, a real git repository, real signed
statements; the engine is the fake one the record's tests use (it only names images)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from lockstep import git, paths
from lockstep.config import Settings
from lockstep.errors import AttestationError, RecordMismatchError
from lockstep.history.verdict import Verdict
from lockstep.records import keys, quorum, signing, verify

from tests.unit.lockstep.records.conftest import Engine, commit_signed, payload

IMAGES = Engine({"img:1": "sha256:1"})


def facts(model: str, threads: str = "") -> dict:
    """The machine probe's facts, as `executor.Ended.facts` holds them."""
    env = {"OMP_NUM_THREADS": threads} if threads else {}
    return {"cpu": {"model": model, "cpus": 2, "flags": ["avx2"]}, "thread_pools": [], "env": env}


@dataclass
class Release:
    """The author's signed run, committed; the validator's folder of keys; private keys."""

    project: Path
    commit: str
    folder: Path  # the author's public key, ada's and grace's, not mallory's
    author: Path
    ada: Path
    grace: Path
    mallory: Path
    rerun: Callable[..., Path]  # signs a rerun: the file `invoke pull` leaves it in


@pytest.fixture
def release(project, key, monkeypatch, tmp_path) -> Release:
    commit_signed(project, monkeypatch)
    commit = git.resolve(project, "HEAD")
    folder = tmp_path / "validators"
    folder.mkdir()
    shutil.copy(key[1], folder)
    validators = {}
    for name in ("ada", "grace", "mallory"):
        private, public = keys.keygen(tmp_path / name, str(tmp_path / f"{name}.pem"))
        if name != "mallory":  # a key nobody gave the validator
            shutil.copy(public, folder)
        validators[name] = private

    def rerun(
        private: Path, machine: int, at=commit, differs=False, tolerance=None, threads=""
    ) -> Path:
        """A rerun of `at` signed with `private` on machine number `machine`, as `invoke pull`
        leaves it: in the commit's collected folder, named by its bytes' sha256."""
        monkeypatch.setenv(keys.VARIABLE, str(private))
        verdict = Verdict("v1", "sha256:1", at, outputs=[("train", "model.pkl", not differs)])
        verdict.metrics = [("reports/metrics.json:auc", 0.7, 0.7, True)]
        engine = Engine({}, f"engine-{machine}")
        made = signing.after_rerun(
            Settings(root=project, image="img"),
            at,
            verdict.attested(tolerance),
            facts("Xeon", threads),
            engine,
        )
        data = made.read_bytes()
        made.unlink()
        name = f"{hashlib.sha256(data).hexdigest()}.json"
        target = project / paths.RERUNS_COLLECTED / commit / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return target

    return Release(project, commit, folder, key[0], **validators, rerun=rerun)


def checked(project: Path, folder: Path, needed: int = 2, tolerance=None) -> quorum.Quorum:
    return quorum.verify_quorum(project, IMAGES, "HEAD", needed, folder, tolerance)[1]


def test_two_validators_on_two_machines_make_a_quorum_the_author_shown_not_counted(release):
    release.rerun(release.ada, 1)
    release.rerun(release.grace, 2)
    (release.folder / keys.TRUST).write_text(
        f'[keys."{_keyid(release.ada)}"]\nname = "Ada Lovelace"\nexpires = 2099-12-31\n'
    )
    # The author reran too, on ada's machine: in the workspace, shown, not counted.
    mine = release.project / signing.RERUNS / f"{release.commit}.json"
    release.rerun(release.author, 1).rename(mine)

    found = checked(release.project, release.folder)

    table = found.table()
    print(table)
    assert [s.author for s in found.statements] == [False, False, True]
    assert "Ada Lovelace" in table and "engine-2, Xeon" in table
    assert "identical (the author's key: not counted)" in table
    assert table.splitlines()[-1].startswith("quorum: 2 of 2 needed: keys ")
    with pytest.raises(AttestationError, match=r"^2 of 3 needed: signed reruns of commit "):
        checked(release.project, release.folder, needed=3)


def _keyid(private: Path) -> str:
    return keys.load_signer(private).public_key.keyid


def test_one_statement_short_is_missing_not_a_record_that_fails(release):
    release.rerun(release.ada, 1)
    with pytest.raises(AttestationError, match=r"^1 of 2 needed: ") as caught:
        checked(release.project, release.folder)
    assert caught.value.exit_code == 2 and "`invoke pull HEAD`" in str(caught.value)


def test_a_statement_with_one_byte_edited_fails_naming_its_file(release):
    release.rerun(release.ada, 1)
    edited = release.rerun(release.grace, 2)
    data = edited.read_bytes()
    at = data.index(b'"payload": "') + len(b'"payload": "') + 100  # in the signed statement
    edited.write_bytes(data[:at] + (b"B" if data[at : at + 1] == b"A" else b"A") + data[at + 1 :])
    name = edited.relative_to(release.project).as_posix()
    with pytest.raises(RecordMismatchError, match=rf"^{name}: the signature does not verify"):
        checked(release.project, release.folder)


def test_a_key_the_validator_does_not_keep_fails_naming_it(release):
    release.rerun(release.ada, 1)
    forged = release.rerun(release.mallory, 2)
    name, keyid = forged.relative_to(release.project).as_posix(), _keyid(release.mallory)[:12]
    with pytest.raises(
        RecordMismatchError,
        match=rf"^{name}: signed by key {keyid}, which {release.folder}/ does not trust",
    ):
        checked(release.project, release.folder)


def test_a_statement_for_another_commit_fails(release):
    release.rerun(release.ada, 1)
    (release.project / "later.txt").write_text("a later commit\n")
    git.commit_all(release.project, "later")
    later = git.resolve(release.project, "HEAD")
    release.rerun(release.grace, 2, at=later)  # filed under the release's commit
    with pytest.raises(
        RecordMismatchError,
        match=rf"a statement for commit {later[:12]}, not {release.commit[:12]}",
    ):
        quorum.verify_quorum(release.project, IMAGES, release.commit, 2, release.folder)


def test_a_statement_made_after_its_key_expired_fails(release):
    release.rerun(release.ada, 1)
    release.rerun(release.grace, 2)
    (release.folder / keys.TRUST).write_text(
        f'[keys."{_keyid(release.grace)}"]\nexpires = 2020-01-01\n'
    )
    with pytest.raises(RecordMismatchError, match=r"after key [0-9a-f]{12} expired on 2020-01-01"):
        checked(release.project, release.folder)


def test_a_verdict_that_differs_fails(release):
    release.rerun(release.ada, 1)
    release.rerun(release.grace, 2, differs=True)
    with pytest.raises(RecordMismatchError, match=r"its verdict is DIFFERS \(model.pkl\)"):
        checked(release.project, release.folder)


def test_a_tolerance_declared_is_accepted_unless_above_the_one_given(release):
    release.rerun(release.ada, 1, tolerance=0.01)
    release.rerun(release.grace, 2, tolerance=0.01)
    assert "within tolerance 0.01" in checked(release.project, release.folder).table()
    checked(release.project, release.folder, tolerance=0.01)
    with pytest.raises(
        RecordMismatchError, match=r"within tolerance 0.01, above --tolerance 0.001"
    ):
        checked(release.project, release.folder, tolerance=0.001)


@pytest.mark.parametrize(
    ("second", "machine", "threads", "message"),
    [
        ("ada", 2, "", r"key [0-9a-f]{12} also signed .*: a key counts once"),
        ("grace", 1, "", r"from the same machine as .*engine-1, Xeon"),
        # A variable the caller sets is not another machine.
        ("grace", 1, "1", r"from the same machine as .*engine-1, Xeon"),
    ],
    ids=["one key on two machines", "two keys on one machine", "one machine, other threads"],
)
def test_two_statements_that_are_one_validator_fail(release, second, machine, threads, message):
    release.rerun(release.ada, 1)
    release.rerun(getattr(release, second), machine, threads=threads)
    with pytest.raises(RecordMismatchError, match=message):
        checked(release.project, release.folder)


def test_a_quorum_needs_the_validators_own_folder_of_keys(release):
    with pytest.raises(AttestationError, match=r"^--quorum needs --keys FOLDER"):
        quorum.verify_quorum(release.project, IMAGES, "HEAD", 2, None)


def test_a_first_version_statement_still_verifies_but_cannot_count(release):
    release.rerun(release.ada, 1)
    old = release.rerun(release.grace, 2)
    statement = payload(json.loads(old.read_bytes()))
    statement["predicateType"] = signing.RERUN_V1_PREDICATE_TYPE
    old.write_bytes(signing.sign(statement, keys.load_signer(release.grace)))
    shutil.copy(old, release.project / signing.RERUNS / f"{release.commit}.json")
    git.commit_all(release.project, "a rerun/v1 statement")
    assert verify.verify(release.project, IMAGES, "HEAD", release.folder).reruns == 1
    with pytest.raises(AttestationError, match=r"a rerun/v1 statement, which records no machine"):
        quorum.verify_quorum(release.project, IMAGES, release.commit, 2, release.folder)
