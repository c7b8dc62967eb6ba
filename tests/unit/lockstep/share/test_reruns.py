"""Signed rerun statements through a real DVC remote (a folder: DVC's local remote): their names
in it, what a clone collects, and the files refused on either side."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
from lockstep import paths
from lockstep.errors import LockstepError
from lockstep.records import signing
from lockstep.share import reruns

from tests.unit.lockstep.conftest import dvc, rot

COMMIT = "c0ffee" * 6 + "c0de"


def statement(root: Path, verdict: str = "identical", commit: str = COMMIT) -> bytes:
    """A rerun statement signed with a key of its own (a validator's), in reports/reruns/."""
    from securesystemslib.signer import CryptoSigner

    document = signing.statement({}, {"commit": commit, "verdict": verdict}, "rerun")
    data = signing.sign(document, CryptoSigner.generate_ed25519())
    (root / signing.RERUNS).mkdir(parents=True, exist_ok=True)
    (root / signing.RERUNS / f"{commit}.json").write_bytes(data)
    return data


def in_remote(remote: Path, data: bytes, commit: str = COMMIT) -> Path:
    return remote / reruns.PREFIX / commit / f"{hashlib.sha256(data).hexdigest()}.json"


def clone(tmp_path: Path, remote: Path) -> Path:
    """Another checkout using the same DVC remote: a third party's."""
    root = tmp_path / "clone"
    root.mkdir()
    dvc(root, "init", "--no-scm")
    dvc(root, "remote", "add", "--default", "origin", str(remote))
    return root


def test_two_validators_statements_land_by_their_bytes_and_a_clone_collects_both(
    dvc_project, tmp_path, capsys
):
    remote = tmp_path / "remote"
    first = statement(dvc_project)
    reruns.publish(dvc_project)
    second = statement(dvc_project, "identical within 0.001")  # another key, the same name
    assert reruns.publish(dvc_project) == 1

    said = capsys.readouterr().err
    for data in (first, second):
        assert in_remote(remote, data).read_bytes() == data
        shown = f"{reruns.PREFIX}/{COMMIT}/{hashlib.sha256(data).hexdigest()[:12]}…"
        assert f"sent {signing.RERUNS}/{COMMIT}.json as {shown}" in said, said
    reruns.publish(dvc_project)
    assert "the remote already has" in capsys.readouterr().err

    other = clone(tmp_path, remote)
    assert reruns.collect(other, COMMIT, "model/v1") == 2

    collected = other / paths.RERUNS_COLLECTED / COMMIT
    assert {path.read_bytes() for path in collected.iterdir()} == {first, second}
    assert "collected 2 rerun statement(s) for model/v1" in capsys.readouterr().err


def test_a_statement_damaged_in_the_remote_is_not_kept(dvc_project, tmp_path, capsys):
    remote = tmp_path / "remote"
    good = statement(dvc_project)
    reruns.publish(dvc_project)
    bad = statement(dvc_project, "DIFFERS")
    reruns.publish(dvc_project)
    rot(in_remote(remote, bad), offset=40)
    other = clone(tmp_path, remote)
    capsys.readouterr()

    assert reruns.collect(other, COMMIT, "model/v1") == 1

    said = capsys.readouterr().err
    name = in_remote(remote, bad).name
    assert f"{reruns.PREFIX}/{COMMIT}/{name} is damaged in the remote" in said, said
    assert "collected 1 rerun statement(s)" in said
    kept = list((other / paths.RERUNS_COLLECTED / COMMIT).iterdir())
    assert [path.read_bytes() for path in kept] == [good]


def test_a_remote_with_none_says_so(dvc_project, capsys):
    assert reruns.collect(dvc_project, COMMIT, "model/v1") == 0
    assert "no rerun statements for model/v1 in the remote" in capsys.readouterr().err
    assert not (dvc_project / paths.RERUNS_COLLECTED).exists()


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        (
            f"{COMMIT}.json",
            b'{"verdict": "identical"}\n',
            "is not a signed rerun statement (a DSSE envelope in JSON)",
        ),
        ("model-v1.json", None, "is not named after the commit it reran (COMMIT.json)"),
    ],
)
def test_a_file_that_is_no_statement_is_refused_and_nothing_is_sent(
    dvc_project, tmp_path, name, data, problem
):
    statement(dvc_project, commit="ab" * 20)  # a good one: not sent either
    wrong = dvc_project / signing.RERUNS / name
    wrong.write_bytes(data or statement(dvc_project))

    with pytest.raises(LockstepError) as caught:
        reruns.publish(dvc_project)

    assert caught.value.message == f"{signing.RERUNS}/{name} {problem}: no rerun statement was sent"
    assert not (tmp_path / "remote").exists()


def test_a_remote_out_of_reach_gives_one_line(dvc_project):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dvc(dvc_project, "remote", "modify", "origin", "url", f"ssh://127.0.0.1:{port}/srv/dvc")
    statement(dvc_project)

    with pytest.raises(LockstepError) as caught:
        reruns.publish(dvc_project)

    assert caught.value.message.startswith("cannot push to the DVC remote 'origin'"), caught.value
    assert "check that the remote is reachable" in caught.value.hint
