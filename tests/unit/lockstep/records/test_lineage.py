import json
import os
import time

import pytest
from lockstep.errors import LineageError
from lockstep.records import lineage

LOCK = {"stages": {"train": {"outs": [{"path": "model.pkl", "md5": "abc"}]}}}


def test_update_records_only_the_stages_that_ran(tmp_path, environment):
    lineage.update(tmp_path, ["train"], environment(), LOCK)
    lineage.update(tmp_path, ["evaluate"], environment(image_id="sha256:2"), LOCK)
    record = lineage.read(tmp_path / lineage.PATH)
    assert record.stages["train"].environment.image_id == "sha256:1"
    assert record.stages["train"].outs == {"model.pkl": "abc"}
    assert record.stages["evaluate"].environment.image_id == "sha256:2"
    stored = json.loads((tmp_path / lineage.PATH).read_text())
    assert stored["schema"] == lineage.SCHEMA
    # The file stays flat, for people reading it: the environment's fields sit beside `outs`.
    assert stored["stages"]["train"]["image_id"] == "sha256:1"
    assert stored["stages"]["train"]["outs"] == {"model.pkl": "abc"}


def test_push_is_recorded_for_the_stages_the_image_produced(tmp_path, environment):
    lineage.update(tmp_path, ["train"], environment(), LOCK)
    record = lineage.update(tmp_path, ["evaluate"], environment(image_id="sha256:2"), LOCK)
    assert record.record_push("sha256:1", "reg/img", "sha256:d") == ["train"]
    assert record.stages["train"].environment.registry_digest == "sha256:d"
    assert record.stages["evaluate"].environment.registry_digest is None
    assert record.images()["sha256:1"].environment.registry_repository == "reg/img"


def test_a_record_round_trips_through_its_file(tmp_path, environment):
    record = lineage.update(tmp_path, ["train"], environment(), LOCK)
    assert lineage.read(tmp_path / lineage.PATH) == record
    assert lineage.LineageRecord.from_dict(record.to_dict(), "x") == record


def test_a_record_made_before_sboms_reads_with_none_for_its_sbom(tmp_path, environment):
    record = lineage.update(tmp_path, ["train"], environment(sbom="sha256:s"), LOCK)
    stored = json.loads((tmp_path / lineage.PATH).read_text())
    assert stored["stages"]["train"]["sbom"] == "sha256:s"
    del stored["stages"]["train"]["sbom"]
    older = lineage.LineageRecord.from_dict(stored, "x")
    assert older.stages["train"].environment.sbom is None
    assert older.stages["train"].outs == record.stages["train"].outs


def test_a_rerun_in_a_pushed_image_keeps_where_it_was_pushed(tmp_path, environment):
    record = lineage.update(tmp_path, ["train"], environment(), LOCK)
    record.record_push("sha256:1", "reg/img", "sha256:d")
    lineage.write(tmp_path / lineage.PATH, record)
    again = lineage.update(tmp_path, ["evaluate"], environment(), LOCK)
    assert again.stages["evaluate"].environment.registry_digest == "sha256:d"


def test_unknown_schema_and_bad_json_are_refused(tmp_path, environment):
    path = tmp_path / "lineage.json"
    path.write_text(json.dumps({"schema": 99, "stages": {}}))
    with pytest.raises(LineageError, match="schema 99"):
        lineage.read(path)
    path.write_text("{")
    with pytest.raises(LineageError, match="not valid JSON"):
        lineage.read(path)
    with pytest.raises(LineageError, match="no lineage recorded"):
        lineage.read(tmp_path / "missing.json")
    path.write_text(json.dumps({"schema": 1, "stages": {"train": {"outs": {}}}}))
    with pytest.raises(LineageError, match="train: no where"):
        lineage.read(path)


def test_table_has_a_row_per_stage(tmp_path, environment):
    record = lineage.update(tmp_path, ["train", "evaluate"], environment(dirty=True), LOCK)
    rows = record.table().splitlines()
    assert rows[0].split()[:2] == ["stage", "where"]
    assert [row.split()[0] for row in rows[1:]] == ["evaluate", "train"]
    assert "c+dirty" in rows[1]


def test_the_stages_that_ran_are_those_whose_dvc_lock_entries_changed():
    before = {"stages": {"a": {"outs": [{"path": "x", "md5": "1"}]}, "b": {"outs": []}}}
    after = {
        "stages": {
            "a": {"outs": [{"path": "x", "md5": "2"}]},  # ran (or came from the run cache)
            "b": {"outs": []},  # untouched
            "c": {"outs": []},  # new
        }
    }
    assert lineage.changed_stages(before, after) == ["a", "c"]
    assert lineage.changed_stages(after, after) == []  # a dry run, or nothing to do
    assert lineage.changed_stages({}, before) == ["a", "b"]


def test_disagreements_between_lineage_and_dvc_lock_name_the_stage(tmp_path, environment):
    record = lineage.update(tmp_path, ["train"], environment(), LOCK)
    assert lineage.disagreements(record, LOCK) == []
    changed = {"stages": {"train": {"outs": [{"path": "model.pkl", "md5": "zzz"}]}}}
    assert lineage.disagreements(record, changed) == ["train's outputs differ from dvc.lock's"]
    more = {"stages": {**LOCK["stages"], "evaluate": {"outs": []}}}
    assert lineage.disagreements(record, more) == ["evaluate has no lineage"]
    assert lineage.disagreements(record, {}) == ["train is in the lineage but not in dvc.lock"]


def test_a_stage_whose_outputs_were_all_rewritten_ran(tmp_path):
    lock = {
        "stages": {
            "fresh": {"outs": [{"path": "a.bin", "md5": "1"}, {"path": "d", "md5": "2.dir"}]},
            "old": {"outs": [{"path": "b.bin", "md5": "3"}]},
            "gone": {"outs": [{"path": "c.bin", "md5": "4"}]},
        }
    }
    (tmp_path / "b.bin").write_text("old")
    os.utime(tmp_path / "b.bin", (1_000_000, 1_000_000))
    started = time.time()
    (tmp_path / "a.bin").write_text("new")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "part").write_text("new")
    assert lineage.rewritten_stages(tmp_path, lock, started) == ["fresh"]


def test_the_job_is_stored_only_for_a_run_on_a_cluster(tmp_path, environment):
    job = {"scheduler": "slurm", "id": "12_3", "node": "n1"}
    lineage.update(tmp_path, ["train"], environment(job=job), LOCK)
    lineage.update(tmp_path, ["evaluate"], environment(), LOCK)
    stored = json.loads((tmp_path / lineage.PATH).read_text())["stages"]
    assert stored["train"]["job"] == job
    assert "job" not in stored["evaluate"]
    assert lineage.read(tmp_path / lineage.PATH).stages["train"].environment.job == job


def write_lock(root, stages: dict[str, str]) -> dict:
    """A dvc.lock with one output per stage (`stage -> md5`), and the output files."""
    lock = {"stages": {n: {"outs": [{"path": f"{n}.bin", "md5": m}]} for n, m in stages.items()}}
    (root / "dvc.lock").write_text(json.dumps(lock))  # YAML reads JSON
    for name in stages:
        (root / f"{name}.bin").write_text(name)
    return lock


def test_a_run_records_the_stages_whose_entries_it_changed(tmp_path, environment):
    before = write_lock(tmp_path, {"a": "1", "b": "2"})
    write_lock(tmp_path, {"a": "1", "b": "3", "c": "4"})
    asked = []
    record = lineage.record_run(
        tmp_path, before, environment(), machine=lambda: asked.append(1) or {"cpu": "x"}
    )
    assert sorted(record.stages) == ["b", "c"]
    assert record.stages["b"].outs == {"b.bin": "3"}
    assert record.stages["c"].environment.machine == {"cpu": "x"} and asked == [1]
    assert lineage.read(tmp_path / lineage.PATH).stages == record.stages


def test_a_run_that_ran_nothing_records_nothing_and_asks_no_machine_facts(tmp_path, environment):
    before = write_lock(tmp_path, {"a": "1"})
    assert lineage.record_run(tmp_path, before, environment(), machine=pytest.fail) is None
    assert not (tmp_path / lineage.PATH).exists()


def test_only_a_forced_run_records_the_stages_whose_outputs_it_rewrote(tmp_path, environment):
    before = write_lock(tmp_path, {"old": "1"})
    os.utime(tmp_path / "old.bin", (1_000_000, 1_000_000))
    started = time.time()
    (tmp_path / "new.bin").write_text("again")
    lock = {"stages": {**before["stages"], "new": {"outs": [{"path": "new.bin", "md5": "2"}]}}}
    (tmp_path / "dvc.lock").write_text(json.dumps(lock))
    # The same entries as before: a plain run only checked `new` out of the cache.
    assert lineage.record_run(tmp_path, lock, environment()) is None
    record = lineage.record_run(tmp_path, lock, environment(), forced_since=started)
    assert sorted(record.stages) == ["new"]
