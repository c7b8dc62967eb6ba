import base64
import hashlib
import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from lockstep import git
from lockstep.config import Settings
from lockstep.errors import AttestationError
from lockstep.records import attest, lineage

LOCK = (
    "schema: '2.0'\n"
    "stages:\n"
    "  train:\n"
    "    outs:\n"
    "    - path: model.pkl\n"
    "      md5: m\n"
    "  evaluate:\n"
    "    outs:\n"
    "    - path: reports/metrics.json\n"
    "      md5: r\n"
    "    - path: plots\n"
    "      md5: p.dir\n"
)
FILES = {
    "model.pkl": b"a model",
    "reports/metrics.json": b'{"auc": 0.7}\n',
    "plots/roc.csv": b"fpr,tpr\n",
    "plots/deep/calibration.csv": b"p,o\n",
}


class Engine:
    """The engine's images by tag: all `verify` asks of it."""

    def __init__(self, images: dict[str, str]) -> None:
        self.images = images

    def image_id(self, ref: str) -> str | None:
        return self.images.get(ref)


@pytest.fixture
def project(tmp_path, environment):
    """A project whose run left outputs, dvc.lock and lineage (one image, two stages)."""
    root = tmp_path / "project"
    for name, data in {"dvc.lock": LOCK.encode(), **FILES}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    lock = lineage.read_dvc_lock(root)
    lineage.update(root, ["train", "evaluate"], environment(sbom="sha256:s"), lock)
    return root


@pytest.fixture
def key(tmp_path, project, monkeypatch):
    """A key made by keygen outside the project, configured as a user would."""
    private, public = attest.keygen(project, str(tmp_path / "keys" / "signing-key.pem"))
    monkeypatch.setenv(attest.VARIABLE, str(private))
    return private, public


def signed(root) -> dict:
    """Sign the run recorded in `root`, as a run does; return the statement."""
    attest.after_run(Settings(root=root, image="img"), lineage.read(root / lineage.PATH))
    return payload(json.loads((root / attest.PATH).read_text()))


def commit_signed(root: Path, monkeypatch) -> None:
    """Sign the run, make `root` a git and DVC repository and commit it all."""
    # Not tests.support's: the kit's unit tests also run, unchanged, in every generated project.
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "lockstep tests")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "tests@lockstep.invalid")
    signed(root)
    git.init(root)
    subprocess.run([Path(sys.executable).parent / "dvc", "init", "-q"], cwd=root, check=True)
    git.commit_all(root, "signed results")


def payload(envelope: dict) -> dict:
    """The statement a DSSE envelope holds."""
    return json.loads(base64.b64decode(envelope["payload"]))


def test_the_statement_names_every_output_file_and_dvc_lock_with_its_sha256(project, key):
    statement = signed(project)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == attest.PREDICATE_TYPE
    expected = {"dvc.lock": LOCK.encode(), **FILES}  # the folder's files one by one
    assert {s["name"]: s["digest"]["sha256"] for s in statement["subject"]} == {
        name: hashlib.sha256(data).hexdigest() for name, data in expected.items()
    }


def test_the_predicate_holds_every_lineage_field_of_each_image_and_where_stages_ran(project, key):
    predicate = signed(project)["predicate"]
    (image,) = predicate["images"].values()
    assert set(image) == {f.name for f in fields(lineage.Environment)}
    assert image["image_id"] == "sha256:1" and image["sbom"] == "sha256:s"
    assert {name: stage["image_id"] for name, stage in predicate["stages"].items()} == {
        "train": "sha256:1",
        "evaluate": "sha256:1",
    }


def test_a_signed_run_verifies_and_says_what_it_checked(project, key):
    signed(project)
    verified = attest.verify(project, Engine({"img:1": "sha256:1"}), "")
    assert verified.subjects == 5 and verified.stages == 2
    assert verified.keyid == key[1].name.removesuffix(".pub.pem")
    assert "5 subjects" in verified.summary() and "img:1 (sha256:1)" in verified.summary()


def test_signing_twice_gives_the_same_bytes(project, key):
    signed(project)
    first = (project / attest.PATH).read_bytes()
    signed(project)
    assert (project / attest.PATH).read_bytes() == first
    document = attest.statement({"dvc.lock": "0"}, lineage.read(project / lineage.PATH))
    signer = attest.load_signer(key[0])
    assert attest.sign(document, signer) == attest.sign(document, signer)


@pytest.mark.parametrize(
    "name", ["model.pkl", "reports/metrics.json", "plots/deep/calibration.csv"]
)
def test_a_changed_output_fails_naming_it(project, key, name):
    signed(project)
    path = project / name
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    with pytest.raises(AttestationError, match=rf"^{name} in the workspace does not match the"):
        attest.verify(project, Engine({"img:1": "sha256:1"}), "")


def test_a_changed_dvc_lock_fails_before_it_is_even_read(project, key):
    signed(project)
    (project / "dvc.lock").write_text(LOCK.replace("stages:", "stages: [", 1))  # not YAML now
    with pytest.raises(AttestationError, match=r"^dvc.lock in the workspace does not match"):
        attest.verify(project, Engine({"img:1": "sha256:1"}), "")


def test_outputs_missing_or_added_after_the_signing_are_named(project, key):
    signed(project)
    (project / "plots" / "new.csv").write_text("x\n")
    with pytest.raises(AttestationError, match=r"^plots/new.csv .* not in the signed record"):
        attest.verify(project, Engine({"img:1": "sha256:1"}), "")
    (project / "plots" / "new.csv").unlink()
    (project / "model.pkl").unlink()
    with pytest.raises(AttestationError, match=r"^model.pkl in the workspace is missing"):
        attest.verify(project, Engine({"img:1": "sha256:1"}), "")


def test_a_lineage_edited_after_the_signing_fails_naming_the_field(project, key):
    signed(project)
    path = project / lineage.PATH
    path.write_text(path.read_text().replace('"commit": "c"', '"commit": "d"'))
    with pytest.raises(AttestationError, match=r"images.sha256:1.commit: 'd' != signed 'c'"):
        attest.verify(project, Engine({"img:1": "sha256:1"}), "")


def test_an_image_missing_or_other_under_its_tag_fails(project, key):
    signed(project)
    with pytest.raises(AttestationError, match=r"not in the engine; .*invoke pull HEAD"):
        attest.verify(project, Engine({}), "")
    with pytest.raises(AttestationError, match=r"image img:1 in the engine does not match"):
        attest.verify(project, Engine({"img:1": "sha256:2"}), "")


def test_a_record_signed_by_an_untrusted_key_or_altered_fails(project, key, tmp_path):
    signed(project)
    path = project / attest.PATH
    envelope = json.loads(path.read_text())
    statement = payload(envelope)
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    forged = base64.b64encode(attest.canonical(statement)).decode()
    path.write_text(json.dumps({**envelope, "payload": forged}))
    with pytest.raises(AttestationError, match=r"the signature does not verify with any key"):
        attest.verify(project, Engine({"img:1": "sha256:1"}), "")
    signed(project)
    key[1].unlink()
    attest.keygen(project, str(tmp_path / "other.pem"))  # trusted, but not the signer
    with pytest.raises(AttestationError, match=r"does not verify .* \(signed by [0-9a-f]{12}\)"):
        attest.verify(project, Engine({"img:1": "sha256:1"}), "")


def test_keys_kept_outside_the_project_are_trusted_rather_than_those_committed(
    project, key, tmp_path, monkeypatch
):
    signed(project)
    kept = tmp_path / "trusted"
    kept.mkdir()
    (kept / key[1].name).write_bytes(key[1].read_bytes())
    verified = attest.verify(project, Engine({"img:1": "sha256:1"}), "", kept)
    assert f"of {kept}/" in verified.summary()

    # Someone who can commit signs with a key of their own and commits its public half: the
    # project's keys/ vouches for it, the validator's folder does not.
    key[1].unlink()
    forger = attest.keygen(project, str(tmp_path / "forger.pem"))[0]
    monkeypatch.setenv(attest.VARIABLE, str(forger))
    signed(project)
    attest.verify(project, Engine({"img:1": "sha256:1"}), "")
    with pytest.raises(AttestationError, match=rf"does not verify with any key in {kept}/"):
        attest.verify(project, Engine({"img:1": "sha256:1"}), "", kept)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AttestationError, match=r"no trusted key .*: .*empty/ holds no \.pub\.pem"):
        attest.verify(project, Engine({"img:1": "sha256:1"}), "", tmp_path / "empty")
    with pytest.raises(AttestationError, match=r"no folder of trusted keys at"):
        attest.verify(project, Engine({"img:1": "sha256:1"}), "", tmp_path / "nowhere")


def test_a_revision_is_verified_from_git_and_its_changed_file_named(project, key, monkeypatch):
    commit_signed(project, monkeypatch)
    git.tag(project, "v1")
    assert attest.verify(project, Engine({"img:1": "sha256:1"}), "v1").where == "at v1"
    (project / "reports/metrics.json").write_text('{"auc": 0.9}\n')
    git.commit_all(project, "better numbers")
    git.tag(project, "v2")
    with pytest.raises(AttestationError, match=r"^reports/metrics.json at v2 does not match"):
        attest.verify(project, Engine({"img:1": "sha256:1"}), "v2")


def test_no_key_configured_says_so_in_one_line_and_writes_nothing(project, monkeypatch, capsys):
    monkeypatch.delenv(attest.VARIABLE, raising=False)
    attest.after_run(Settings(root=project, image="img"), lineage.LineageRecord())
    assert not (project / attest.PATH).exists()
    (line,) = capsys.readouterr().err.splitlines()
    assert "not signed" in line and attest.VARIABLE in line and "invoke keygen" in line


def test_a_key_inside_the_project_is_refused(project, monkeypatch):
    (project / "key.pem").write_text("secret")
    monkeypatch.setenv(attest.VARIABLE, "key.pem")
    with pytest.raises(AttestationError, match="inside the project: a key must never be committed"):
        attest.key_path(Settings(root=project, image="img"))
    with pytest.raises(AttestationError, match="inside the project"):
        attest.keygen(project, str(project / "sub" / "key.pem"))


def test_the_variable_wins_over_the_setting(project, tmp_path, monkeypatch):
    settings = Settings(root=project, image="img", signing_key=str(tmp_path / "setting.pem"))
    monkeypatch.delenv(attest.VARIABLE, raising=False)
    assert attest.key_path(settings) == tmp_path / "setting.pem"
    monkeypatch.setenv(attest.VARIABLE, str(tmp_path / "variable.pem"))
    assert attest.key_path(settings) == tmp_path / "variable.pem"


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(project, key):
    private, public = key
    assert private.stat().st_mode & 0o777 == 0o600
    assert public.parent == project / attest.KEYS and public.read_text().startswith("-----BEGIN")
    with pytest.raises(AttestationError, match="exists: a signing key is never overwritten"):
        attest.keygen(project, str(private))


def test_a_key_that_is_not_ed25519_is_refused(tmp_path):
    path = tmp_path / "key.pem"
    path.write_text("not a key")
    with pytest.raises(AttestationError, match="not an unencrypted ed25519 private key"):
        attest.load_signer(path)
    with pytest.raises(AttestationError, match="no signing key at"):
        attest.load_signer(tmp_path / "none.pem")


def test_verifying_without_a_record_says_how_to_make_one(project):
    with pytest.raises(AttestationError, match="no signed run record"):
        attest.verify(project, Engine({}), "")


def test_a_rerun_verdict_is_signed_bound_to_its_result_and_verified(project, key, monkeypatch):
    commit_signed(project, monkeypatch)
    commit = git.resolve(project, "HEAD")
    settings = Settings(root=project, image="img")
    verdict = {"revision": "v1", "verdict": "identical", "detail": "3 outputs, 1 metrics"}

    path = attest.after_rerun(settings, commit, verdict)

    statement = payload(json.loads(path.read_text()))
    assert statement["predicateType"] == attest.RERUN_PREDICATE_TYPE
    assert statement["predicate"]["commit"] == commit
    assert statement["predicate"]["verdict"] == "identical" and statement["predicate"]["by"]
    record = hashlib.sha256((project / attest.PATH).read_bytes()).hexdigest()
    assert {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}[attest.PATH] == record
    engine = Engine({"img:1": "sha256:1"})
    assert attest.verify(project, engine, "").reruns == 1
    # The verdict's page next to it is no statement.
    path.with_suffix(".html").write_text("<!DOCTYPE html>")
    assert attest.verify(project, engine, "").reruns == 1

    # Its verdict edited after the signing: the signature no longer holds.
    envelope = json.loads(path.read_text())
    statement["predicate"]["verdict"] = "DIFFERS"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_text(json.dumps(envelope))
    with pytest.raises(AttestationError, match="the signature does not verify"):
        attest.verify(project, engine, "")


def test_with_no_key_a_rerun_verdict_is_not_signed(project, monkeypatch):
    monkeypatch.delenv(attest.VARIABLE, raising=False)
    assert attest.after_rerun(Settings(root=project, image="img"), "0" * 40, {}) is None
    assert not (project / attest.RERUNS).exists()
