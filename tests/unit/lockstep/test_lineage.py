import json

import pytest
from lockstep import lineage
from lockstep.errors import LineageError

LOCK = {"stages": {"train": {"outs": [{"path": "model.pkl", "md5": "abc"}]}}}


def environment(**changes):
    fields = dict(
        where="container",
        image_id="sha256:1",
        image_tag="img:1",
        registry_digest=None,
        registry_repository=None,
        fingerprint="f",
        lock_sha256="l",
        base_image="b",
        commit="c",
        dirty=False,
        dvc_version="3",
        python_version="3.11",
    )
    return lineage.Environment(**{**fields, **changes})


def test_update_records_only_the_stages_that_ran(tmp_path):
    lineage.update(tmp_path, ["train"], environment(), LOCK)
    lineage.update(tmp_path, ["evaluate"], environment(image_id="sha256:2"), LOCK)
    record = lineage.read(tmp_path / lineage.PATH)
    assert record["schema"] == lineage.SCHEMA
    assert record["stages"]["train"]["image_id"] == "sha256:1"
    assert record["stages"]["train"]["outs"] == {"model.pkl": "abc"}
    assert record["stages"]["evaluate"]["image_id"] == "sha256:2"


def test_push_is_recorded_for_the_stages_the_image_produced(tmp_path):
    lineage.update(tmp_path, ["train"], environment(), LOCK)
    lineage.update(tmp_path, ["evaluate"], environment(image_id="sha256:2"), LOCK)
    assert lineage.record_push(tmp_path, "sha256:1", "reg/img", "sha256:d") == ["train"]
    record = lineage.read(tmp_path / lineage.PATH)
    assert record["stages"]["train"]["registry_digest"] == "sha256:d"
    assert record["stages"]["evaluate"]["registry_digest"] is None


def test_unknown_schema_and_bad_json_are_refused(tmp_path):
    path = tmp_path / "lineage.json"
    path.write_text(json.dumps({"schema": 99, "stages": {}}))
    with pytest.raises(LineageError, match="schema 99"):
        lineage.read(path)
    path.write_text("{")
    with pytest.raises(LineageError, match="not valid JSON"):
        lineage.read(path)
    with pytest.raises(LineageError, match="no lineage recorded"):
        lineage.read(tmp_path / "missing.json")


def test_table_has_a_row_per_stage(tmp_path):
    record = lineage.update(tmp_path, ["train", "evaluate"], environment(dirty=True), LOCK)
    rows = lineage.table(record).splitlines()
    assert rows[0].split()[:2] == ["stage", "where"]
    assert [row.split()[0] for row in rows[1:]] == ["evaluate", "train"]
    assert "c+dirty" in rows[1]
