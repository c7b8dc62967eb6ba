import hashlib
import json
from dataclasses import fields

from lockstep import git
from lockstep.config import Settings
from lockstep.records import keys, lineage, signing

from tests.unit.lockstep.records.conftest import (
    FILES,
    LOCK,
    Engine,
    commit_signed,
    payload,
    signed,
)


def test_the_statement_names_every_output_file_and_dvc_lock_with_its_sha256(project, key):
    statement = signed(project)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == signing.PREDICATE_TYPE
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


def test_signing_twice_gives_the_same_bytes(project, key):
    signed(project)
    first = (project / signing.PATH).read_bytes()
    signed(project)
    assert (project / signing.PATH).read_bytes() == first
    document = signing.statement({"dvc.lock": "0"}, lineage.read(project / lineage.PATH))
    signer = keys.load_signer(key[0])
    assert signing.sign(document, signer) == signing.sign(document, signer)


def test_no_key_configured_says_so_in_one_line_and_writes_nothing(project, monkeypatch, capsys):
    monkeypatch.delenv(keys.VARIABLE, raising=False)
    signing.after_run(Settings(root=project, image="img"), lineage.LineageRecord())
    assert not (project / signing.PATH).exists()
    (line,) = capsys.readouterr().err.splitlines()
    assert "not signed" in line and keys.VARIABLE in line and "invoke keygen" in line


def test_a_rerun_verdict_is_signed_bound_to_its_result(project, key, monkeypatch):
    commit_signed(project, monkeypatch)
    commit = git.resolve(project, "HEAD")
    settings = Settings(root=project, image="img")
    verdict = {"revision": "v1", "verdict": "identical", "detail": "3 outputs, 1 metrics"}

    facts = {"cpu": {"model": "Xeon", "cpus": 2, "flags": ["avx2"]}, "thread_pools": []}

    path = signing.after_rerun(settings, commit, verdict, facts, Engine({}))

    assert path == project / signing.RERUNS / f"{commit}.json"
    statement = payload(json.loads(path.read_text()))
    assert statement["predicateType"] == "https://slsa.dev/verification_summary/v1"
    predicate = statement["predicate"]
    record = hashlib.sha256((project / signing.PATH).read_bytes()).hexdigest()
    assert {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}[signing.PATH] == record
    # A SLSA verification summary: of the commit, checked against the signed run record.
    assert predicate["resourceUri"] == f"git+{commit}"
    assert predicate["inputAttestations"] == [{"uri": signing.PATH, "digest": {"sha256": record}}]
    assert predicate["verificationResult"] == "PASSED"
    assert predicate["verifiedLevels"] == [signing.LEVEL]
    assert predicate["verifier"]["id"] and predicate["timeVerified"].endswith("Z")
    # The rerun's own fields beside it: the verdict, who, and the machine.
    assert predicate["commit"] == commit
    assert predicate["verdict"] == "identical" and predicate["by"]
    assert predicate["machine"]["engine"] == "0123:ABCD" and predicate["machine"]["facts"] == facts
    assert predicate["machine"]["host"]

    failed = signing.after_rerun(settings, commit, {**verdict, "verdict": "DIFFERS"})
    predicate = payload(json.loads(failed.read_text()))["predicate"]
    assert predicate["verificationResult"] == "FAILED" and predicate["verifiedLevels"] == []


def test_with_no_key_a_rerun_verdict_is_not_signed(project, monkeypatch):
    monkeypatch.delenv(keys.VARIABLE, raising=False)
    assert signing.after_rerun(Settings(root=project, image="img"), "0" * 40, {}) is None
    assert not (project / signing.RERUNS).exists()
