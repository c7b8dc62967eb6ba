"""`invoke repro` in the image: the native run's bytes, lineage for every stage, files owned by
the user who ran it."""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from lockstep import config, toolchain
from lockstep.images import builder, recorded, sbom
from lockstep.records import lineage, sources

from tests.support import commands, machines

pytestmark = pytest.mark.docker

USER = "lockstep-it"


@pytest.fixture(scope="module")
def native_then_container(kit, runtime_image):
    """A copy run natively, then in the container; the out hashes of each run."""
    project = kit.copy("repro")
    kit.invoke(project, "repro", "--local", "--force")
    native = kit.out_hashes(project)
    kit.invoke(project, "repro", "--force")
    return project, native, kit.out_hashes(project)


def test_the_container_reproduces_the_native_outputs_byte_for_byte(kit, native_then_container):
    _, native, contained = native_then_container
    assert set(native) == kit.outputs
    assert contained == native


def test_lineage_names_the_engine_image_for_every_stage(kit, native_then_container, runtime_image):
    project, _, _ = native_then_container
    record = json.loads((project / lineage.PATH).read_text())
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    lock = lineage.read_dvc_lock(project)

    assert record["schema"] == lineage.SCHEMA
    assert set(record["stages"]) == set(stages)
    for name, entry in record["stages"].items():
        assert entry["where"] == "container", name
        assert entry["image_tag"] == runtime_image.tag, name
        assert entry["image_id"] == kit.image_id(entry["image_tag"]), name
        assert entry["fingerprint"] == runtime_image.fingerprint, name
        assert entry["outs"] == lineage.stage_outputs(lock, name), name
        assert entry["commit"] == kit.git(project, "rev-parse", "HEAD").strip(), name
    # The image's SBOM sits next to the lineage, which records its digest.
    kept = sbom.path(project, runtime_image.id)
    assert sorted((project / sbom.FOLDER).iterdir()) == [kept]
    assert {entry["sbom"] for entry in record["stages"].values()} == {sbom.digest(kept.read_text())}
    printed = kit.invoke(project, "sbom", "workspace").stdout
    assert printed.strip() == kept.read_text().strip()

    table = kit.invoke(project, "lineage").stdout
    short_id = runtime_image.id.removeprefix("sha256:")[:12]
    for name in stages:
        assert re.search(rf"(?m)^{name} +container +{short_id} ", table), table


def test_a_no_op_repro_starts_no_container_and_records_nothing(kit, native_then_container):
    project, _, contained = native_then_container
    before = (project / lineage.PATH).read_bytes()

    proc = kit.invoke(project, "repro")

    assert "pipeline: every stage is up to date" in proc.stderr, proc.stderr
    assert "as the last build recorded" in proc.stderr, proc.stderr
    assert "docker run" not in proc.stderr, proc.stderr
    assert re.search(r"(?m)^lockstep: (reproduced|changed): ", proc.stderr), proc.stderr
    assert (project / lineage.PATH).read_bytes() == before
    assert kit.out_hashes(project) == contained
    # --strict checks the base again: the long way, in the image.
    strict = kit.invoke(project, "repro", "--strict")
    assert "docker run" in strict.stderr, strict.stderr
    assert (project / lineage.PATH).read_bytes() == before


def test_a_no_op_build_answers_from_its_record_until_the_engine_disagrees(
    kit, native_then_container, runtime_image
):
    project, _, _ = native_then_container
    # ./inv as a user runs it, its .venv standing for one installed from this same lock: the
    # stamp toolchain.py checks (for the interpreter that runs it), and the tests' invoke.
    (project / ".venv" / "bin").mkdir(parents=True, exist_ok=True)
    (project / ".venv" / "bin" / "invoke").symlink_to(kit.bin / "invoke")
    (project / ".venv" / toolchain.STAMP).write_text(toolchain.inputs_digest(project))
    env = kit.env(project, LOCKSTEP_PYTHON=sys.executable)
    content = runtime_image.tag.rsplit(":", 1)[1]
    by_commit = builder.commit_tag(config.load(project), "runtime", content)
    answer = recorded.summary(
        runtime_image.tag, by_commit, runtime_image.id, runtime_image.fingerprint
    )

    first = commands.run([project / "inv", "build"], project, env=env)
    assert "as the last build recorded" in first.stderr, first.stderr
    assert first.stdout.strip() == answer

    # The engine lost the commit tag: the long way makes it again, and records anew.
    kit.docker("image", "rm", by_commit)
    again = commands.run([project / "inv", "build"], project, env=env)
    assert "as the last build recorded" not in again.stderr, again.stderr
    assert again.stdout.strip() == answer
    third = commands.run([project / "inv", "build"], project, env=env)
    assert "as the last build recorded" in third.stderr, third.stderr


def test_a_non_root_users_repro_leaves_only_their_files(kit, runtime_image) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="lockstep-it-", dir="/tmp"))
    kit.scratch.append(scratch)
    project = kit.copy("non-root", dest=scratch / "project", shared_poetry=False)
    theirs = machines.UserProject.hand_over(project, USER, kit.bin)

    proc = theirs.invoke("repro")

    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert f"--user {theirs.user.pw_uid}:{theirs.user.pw_gid}" in proc.stderr
    assert "Running stage 'ingest'" in proc.stderr  # the small extract made it run again
    assert set(kit.out_hashes(project)) == kit.outputs
    foreign = theirs.foreign_files()
    assert not foreign, "files not owned by the user who ran the repro:\n" + "\n".join(foreign)


@pytest.fixture(scope="module")
def source_edited(kit, native_then_container, runtime_image):
    """The container run's results committed, then an edit of the report stage's module only,
    and `invoke repro` again. Last in this module: it changes the shared copy's results."""
    project, _, _ = native_then_container
    commands.commit_all(project, "results in the runtime image")
    before = {name: (project / name).read_bytes() for name in ("environment.yaml", lineage.PATH)}
    module = project / "src" / "credit_model" / "stages" / "report.py"
    module.write_text(module.read_text() + "# a source change only\n")
    proc = kit.invoke(project, "repro")
    return project, before, proc


def test_a_source_change_builds_nothing_and_reruns_only_its_stage(
    kit, source_edited, runtime_image
):
    project, before, proc = source_edited
    output = proc.stdout + proc.stderr
    assert f"{runtime_image.tag} is up to date" in proc.stderr, proc.stderr
    assert "docker build" not in proc.stderr
    assert not re.search(r"environment: \d+ layers", proc.stderr), proc.stderr
    assert re.findall(r"Running stage '(\w+)'", output) == ["report"], output
    assert (project / "environment.yaml").read_bytes() == before["environment.yaml"]
    record = lineage.read(project / lineage.PATH)
    assert set(record.images()) == {runtime_image.id}  # one image names every stage
    old = lineage.parse(before[lineage.PATH].decode(), "before").stages
    assert record.stages["train"] == old["train"]  # not rerun: its entry is as it was


def test_lineage_names_the_source_tree_each_stage_ran(kit, source_edited):
    project, _, _ = source_edited
    stages = lineage.read(project / lineage.PATH).stages
    committed = kit.git(project, "rev-parse", "HEAD:src").strip()
    edited = sources.tree(project)
    assert edited != committed
    assert {name: run.environment.source_tree for name, run in stages.items()} == {
        "ingest": committed,
        "features": committed,
        "train": committed,
        "evaluate": committed,
        "report": edited,
    }
    # Each tree's files are kept next to the lineage, so any clone can name what differs.
    kept = sorted(path.stem for path in (project / sources.FOLDER).iterdir())
    assert kept == sorted({committed, edited})
    listed = sources.parse((project / sources.FOLDER / f"{edited}.txt").read_text())
    assert listed["credit_model/stages/report.py"] != listed.get("credit_model/io.py")
    table = kit.invoke(project, "lineage").stdout
    assert re.search(rf"(?m)^report +container +\S+ +\S+ +{edited[:12]} ", table), table
