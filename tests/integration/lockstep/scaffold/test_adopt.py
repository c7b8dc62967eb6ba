"""`lockstep adopt`: a DVC project of someone else's (its own stages, written here) gets the kit,
keeps its stages as written, and `./inv repro` then runs it in the container with lineage for
every stage and the same output bytes as before."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from pathlib import Path

import pytest
import yaml
from lockstep import lineage

from tests.support import commands, projects, template

pytestmark = pytest.mark.docker

NAME = "tmpl-adopted"
# Their pipeline: standard library only, deterministic, in scripts of their own.
SCRIPTS = {
    "scripts/simulate.py": """\
import csv, os, random, sys, yaml
params = yaml.safe_load(open("params.yaml"))["simulate"]
rng = random.Random(params["seed"])
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
with open(sys.argv[1], "w", newline="") as out:
    writer = csv.writer(out, lineterminator="\\n")
    writer.writerow(["x", "y"])
    for _ in range(params["points"]):
        x = rng.uniform(0, 10)
        writer.writerow([f"{x:.6f}", f"{3 * x + 1 + rng.gauss(0, 1):.6f}"])
""",
    "scripts/fit.py": """\
import csv, json, os, sys
rows = [(float(x), float(y)) for x, y in list(csv.reader(open(sys.argv[1])))[1:]]
n = len(rows)
mx, my = sum(x for x, _ in rows) / n, sum(y for _, y in rows) / n
slope = sum((x - mx) * (y - my) for x, y in rows) / sum((x - mx) ** 2 for x, _ in rows)
fit = {"slope": round(slope, 6), "intercept": round(my - slope * mx, 6), "points": n}
os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
json.dump(fit, open(sys.argv[2], "w"), indent=2, sort_keys=True)
""",
    "scripts/summarise.py": """\
import json, sys
fit = json.load(open(sys.argv[1]))
json.dump({"slope_error": round(abs(fit["slope"] - 3), 6)}, open(sys.argv[2], "w"))
""",
}
PARAMS = "# Their params.\nsimulate:\n  seed: 42\n  points: 500\n"
STAGES = {
    "simulate": [
        "-p", "simulate", "-d", "scripts/simulate.py", "-o", "data/points.csv",
        "python scripts/simulate.py data/points.csv",
    ],
    "fit": [
        "-d", "scripts/fit.py", "-d", "data/points.csv", "-o", "model/fit.json",
        "python scripts/fit.py data/points.csv model/fit.json",
    ],
    "summarise": [
        "-d", "scripts/summarise.py", "-d", "model/fit.json", "-M", "metrics.json",
        "python scripts/summarise.py model/fit.json metrics.json",
    ],
}  # fmt: skip


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def theirs(tmp_path_factory) -> Path:
    """Their DVC project: stages added with `dvc stage add`, reproduced natively, committed."""
    root = tmp_path_factory.mktemp("adopt") / NAME
    root.mkdir()
    for name, text in SCRIPTS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "params.yaml").write_text(PARAMS)
    (root / "README.md").write_text("# Their project\n")
    (root / ".gitignore").write_text("/scratch/\n")
    # The kit's DVC, and its Python (with PyYAML) for their scripts.
    env = {"PATH": f"{template.BIN}{os.pathsep}{os.environ['PATH']}"}
    dvc = template.BIN / "dvc"
    commands.git(root, "init", "--quiet")
    commands.run([dvc, "init", "--quiet"], root)
    for stage, args in STAGES.items():
        commands.run([dvc, "stage", "add", "--name", stage, *args], root)
    commands.run([dvc, "repro", "--quiet"], root, env=env)
    commands.commit_all(root, "their pipeline")
    return root


@pytest.fixture(scope="module")
def adopted(theirs, kit_source, project_images) -> dict:
    """Their project before and after `lockstep adopt` and `./inv repro`.

    dvc.lock changes by design (each stage gains the fingerprint dependency); its outputs' md5s
    are compared on their own.
    """
    before = {
        "dvc.yaml": (theirs / "dvc.yaml").read_text(),
        "outputs": projects.out_hashes(theirs),
        "files": {
            name: digest(theirs / name)
            for name in commands.git(theirs, "ls-files").split()
            if name not in ("dvc.yaml", "dvc.lock", ".gitignore")
        },
    }
    project_images.extend([NAME, NAME + "-dev"])
    result = template.lockstep("adopt", "--defaults", f"--template={kit_source}", cwd=theirs)
    template.share_poetry(theirs)
    repro = template.inv(theirs, "repro")
    return {**before, "adopt": result, "repro": repro}


def test_adopt_adds_the_kit_and_commits_it(adopted, theirs):
    assert "adopted the lockstep kit" in adopted["adopt"].stdout
    log = commands.git(theirs, "log", "--format=%s").splitlines()
    assert log[0] == f"Adopt the lockstep kit {template.KIT_VERSION}"
    added = set(commands.git(theirs, "show", "--name-only", "--format=", "HEAD").split())
    for name in ("tasks.py", "inv", "docker/Dockerfile", "pyproject.toml", "poetry.lock"):
        assert name in added
    assert ".devcontainer/devcontainer.json" in added
    assert ".copier-answers.yml" in added and "src/lockstep/pipeline.py" in added
    for theirs_only in ("README.md", "params.yaml", "scripts/fit.py"):
        assert theirs_only not in added
    gitignore = (theirs / ".gitignore").read_text()
    assert gitignore.startswith("/scratch/\n") and "/.venv/" in gitignore


def test_their_files_are_untouched_and_dvc_yaml_only_gains_lines(adopted, theirs):
    for name, sha in adopted["files"].items():
        assert digest(theirs / name) == sha, name
    diff = difflib.ndiff(
        adopted["dvc.yaml"].splitlines(), (theirs / "dvc.yaml").read_text().splitlines()
    )
    assert not [line for line in diff if line.startswith("- ")]
    old = yaml.safe_load(adopted["dvc.yaml"])["stages"]
    new = yaml.safe_load((theirs / "dvc.yaml").read_text())["stages"]
    assert list(new) == list(old)
    for name, stage in new.items():
        assert {"environment.yaml": ["fingerprint"]} in stage.pop("params")
        old[name].pop("params", None)
        assert stage == old[name], name


def test_their_pipeline_runs_in_the_container_with_lineage_for_every_stage(adopted, theirs):
    assert all(f"Running stage '{stage}'" in adopted["repro"].stderr for stage in STAGES)
    record = json.loads((theirs / lineage.PATH).read_text())
    fingerprint = yaml.safe_load((theirs / "environment.yaml").read_text())["fingerprint"]
    lock = lineage.read_dvc_lock(theirs)
    assert sorted(record["stages"]) == sorted(STAGES)
    for stage, entry in record["stages"].items():
        assert entry["where"] == "container", stage
        assert entry["image_tag"].startswith(f"{NAME}:"), stage
        assert entry["fingerprint"] == fingerprint, stage
        assert entry["outs"] == lineage.stage_outputs(lock, stage), stage


def test_their_outputs_are_byte_for_byte_what_they_were(adopted, theirs):
    assert projects.out_hashes(theirs) == adopted["outputs"]
    # Now each stage also depends on the environment it ran in.
    lock = yaml.safe_load((theirs / "dvc.lock").read_text())
    for stage in STAGES:
        assert "fingerprint" in lock["stages"][stage]["params"]["environment.yaml"]


def test_adopting_twice_or_a_folder_without_dvc_says_why(adopted, theirs, tmp_path):
    commands.commit_all(theirs, "results in the container")
    again = template.lockstep("adopt", "--defaults", cwd=theirs, check=False)
    assert again.returncode == 2
    assert "already uses the lockstep kit (.copier-answers.yml, src/lockstep)" in again.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    commands.git(plain, "init", "--quiet")
    refused = template.lockstep("adopt", "--defaults", cwd=plain, check=False)
    assert refused.returncode == 2
    assert "is not a DVC project (no dvc.yaml and .dvc/)" in refused.stderr
