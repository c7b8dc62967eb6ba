import base64
import json

import pytest
from lockstep import git
from lockstep.config import Settings
from lockstep.errors import AttestationError, DamagedCacheError
from lockstep.records import keys, lineage, signing, verify

from tests.unit.lockstep.conftest import cache_file, dvc, rot
from tests.unit.lockstep.records.conftest import (
    FILES,
    LOCK,
    Engine,
    commit_signed,
    payload,
    signed,
)

PIPELINE = """\
stages:
  train:
    cmd: 'true'
    outs: [model.pkl]
  evaluate:
    cmd: 'true'
    outs: [reports/metrics.json, plots]
"""


def test_a_signed_run_verifies_and_says_what_it_checked(project, key):
    signed(project)
    verified = verify.verify(project, Engine({"img:1": "sha256:1"}), "")
    assert verified.subjects == 5 and verified.stages == 2
    assert verified.keyid == key[1].name.removesuffix(".pub.pem")
    assert "5 subjects" in verified.summary() and "img:1 (sha256:1)" in verified.summary()


@pytest.mark.parametrize(
    "name", ["model.pkl", "reports/metrics.json", "plots/deep/calibration.csv"]
)
def test_a_changed_output_fails_naming_it(project, key, name):
    signed(project)
    path = project / name
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    with pytest.raises(AttestationError, match=rf"^{name} in the workspace does not match the"):
        verify.verify(project, Engine({"img:1": "sha256:1"}), "")


def test_a_changed_dvc_lock_fails_before_it_is_even_read(project, key):
    signed(project)
    (project / "dvc.lock").write_text(LOCK.replace("stages:", "stages: [", 1))  # not YAML now
    with pytest.raises(AttestationError, match=r"^dvc.lock in the workspace does not match"):
        verify.verify(project, Engine({"img:1": "sha256:1"}), "")


def test_outputs_missing_or_added_after_the_signing_are_named(project, key):
    signed(project)
    (project / "plots" / "new.csv").write_text("x\n")
    with pytest.raises(AttestationError, match=r"^plots/new.csv .* not in the signed record"):
        verify.verify(project, Engine({"img:1": "sha256:1"}), "")
    (project / "plots" / "new.csv").unlink()
    (project / "model.pkl").unlink()
    with pytest.raises(AttestationError, match=r"^model.pkl in the workspace is missing"):
        verify.verify(project, Engine({"img:1": "sha256:1"}), "")


def test_a_lineage_edited_after_the_signing_fails_naming_the_field(project, key):
    signed(project)
    path = project / lineage.PATH
    path.write_text(path.read_text().replace('"commit": "c"', '"commit": "d"'))
    with pytest.raises(AttestationError, match=r"images.sha256:1.commit: 'd' != signed 'c'"):
        verify.verify(project, Engine({"img:1": "sha256:1"}), "")


def test_an_image_missing_or_other_under_its_tag_fails(project, key):
    signed(project)
    with pytest.raises(AttestationError, match=r"not in the engine; .*invoke pull HEAD"):
        verify.verify(project, Engine({}), "")
    with pytest.raises(AttestationError, match=r"image img:1 in the engine does not match"):
        verify.verify(project, Engine({"img:1": "sha256:2"}), "")


def test_a_record_signed_by_an_untrusted_key_or_altered_fails(project, key, tmp_path):
    signed(project)
    path = project / signing.PATH
    envelope = json.loads(path.read_text())
    statement = payload(envelope)
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    forged = base64.b64encode(signing.canonical(statement)).decode()
    path.write_text(json.dumps({**envelope, "payload": forged}))
    with pytest.raises(AttestationError, match=r"the signature does not verify with any key"):
        verify.verify(project, Engine({"img:1": "sha256:1"}), "")
    signed(project)
    key[1].unlink()
    keys.keygen(project, str(tmp_path / "other.pem"))  # trusted, but not the signer
    with pytest.raises(AttestationError, match=r"does not verify .* \(signed by [0-9a-f]{12}\)"):
        verify.verify(project, Engine({"img:1": "sha256:1"}), "")


def test_keys_kept_outside_the_project_are_trusted_rather_than_those_committed(
    project, key, tmp_path, monkeypatch
):
    signed(project)
    kept = tmp_path / "trusted"
    kept.mkdir()
    (kept / key[1].name).write_bytes(key[1].read_bytes())
    verified = verify.verify(project, Engine({"img:1": "sha256:1"}), "", kept)
    assert f"of {kept}/" in verified.summary()

    # Someone who can commit signs with a key of their own and commits its public half: the
    # project's keys/ vouches for it, the validator's folder does not.
    key[1].unlink()
    forger = keys.keygen(project, str(tmp_path / "forger.pem"))[0]
    monkeypatch.setenv(keys.VARIABLE, str(forger))
    signed(project)
    verify.verify(project, Engine({"img:1": "sha256:1"}), "")
    with pytest.raises(AttestationError, match=rf"does not verify with any key in {kept}/"):
        verify.verify(project, Engine({"img:1": "sha256:1"}), "", kept)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AttestationError, match=r"no trusted key .*: .*empty/ holds no \.pub\.pem"):
        verify.verify(project, Engine({"img:1": "sha256:1"}), "", tmp_path / "empty")
    with pytest.raises(AttestationError, match=r"no folder of trusted keys at"):
        verify.verify(project, Engine({"img:1": "sha256:1"}), "", tmp_path / "nowhere")


def test_a_revision_is_verified_from_git_and_its_changed_file_named(project, key, monkeypatch):
    commit_signed(project, monkeypatch)
    git.tag(project, "v1")
    assert verify.verify(project, Engine({"img:1": "sha256:1"}), "v1").where == "at v1"
    (project / "reports/metrics.json").write_text('{"auc": 0.9}\n')
    git.commit_all(project, "better numbers")
    git.tag(project, "v2")
    with pytest.raises(AttestationError, match=r"^reports/metrics.json at v2 does not match"):
        verify.verify(project, Engine({"img:1": "sha256:1"}), "v2")


def test_verifying_without_a_record_says_how_to_make_one(project):
    with pytest.raises(AttestationError, match="no signed run record"):
        verify.verify(project, Engine({}), "")


def test_signed_rerun_verdicts_are_verified_and_an_edited_one_fails(project, key, monkeypatch):
    commit_signed(project, monkeypatch)
    settings = Settings(root=project, image="img")
    verdict = {"revision": "v1", "verdict": "identical", "detail": "3 outputs, 1 metrics"}
    path = signing.after_rerun(settings, git.resolve(project, "HEAD"), verdict)

    engine = Engine({"img:1": "sha256:1"})
    assert verify.verify(project, engine, "").reruns == 1
    # The verdict's page next to it is no statement.
    path.with_suffix(".html").write_text("<!DOCTYPE html>")
    assert verify.verify(project, engine, "").reruns == 1

    # Its verdict edited after the signing: the signature no longer holds.
    envelope = json.loads(path.read_text())
    statement = payload(envelope)
    statement["predicate"]["verdict"] = "DIFFERS"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_text(json.dumps(envelope))
    with pytest.raises(AttestationError, match="the signature does not verify"):
        verify.verify(project, engine, "")


@pytest.fixture
def in_dvc(project, key, environment, git_identity, tmp_path):
    """The project with its outputs in the DVC cache and remote, not git: signed, tagged v1."""
    git.init(project)
    dvc(project, "init")
    dvc(project, "remote", "add", "--default", "origin", str(tmp_path / "remote"))
    (project / "dvc.yaml").write_text(PIPELINE)
    (project / "dvc.lock").unlink()  # the fixture's, of made-up md5s
    dvc(project, "commit", "--force")  # the outputs into the cache, their md5s into dvc.lock
    dvc(project, "push")
    lock = lineage.read_dvc_lock(project)
    lineage.update(project, ["train", "evaluate"], environment(sbom="sha256:s"), lock)
    signed(project)
    git.commit_all(project, "results in DVC")
    git.tag(project, "v1")
    return project


def test_a_damaged_output_in_the_dvc_cache_is_named_not_taken_for_a_changed_record(in_dvc):
    cached = cache_file(in_dvc, FILES["model.pkl"])
    rot(cached)

    with pytest.raises(DamagedCacheError) as caught:
        verify.verify(in_dvc, Engine({"img:1": "sha256:1"}), "v1")

    assert str(caught.value) == (
        f"the DVC cache's copy of model.pkl is damaged: {cached} no longer hashes to its name; "
        "removed it from the cache; `invoke pull v1` fetches it again, then verify again"
    )
    dvc(in_dvc, "fetch")  # what `invoke pull v1` does first
    assert verify.verify(in_dvc, Engine({"img:1": "sha256:1"}), "v1").subjects == 5
