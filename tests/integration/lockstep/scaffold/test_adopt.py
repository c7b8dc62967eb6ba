"""`lockstep adopt`: a DVC project of someone else's (its own stages, written here) gets the kit,
keeps its stages as written, and `./inv repro` then runs it in the container with lineage for
every stage and the same output bytes as before; its committed result reruns identical. Every
step is the walk-through of docs/projects.md, with no manual step between."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import random
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from lockstep import paths
from lockstep.records import lineage

from tests.support import commands, projects, template

# Their report stage needs a distribution the kit's lock lacks: adopt locks it through the
# package index as it is today; each step bootstraps a .venv and an image of its own.
pytestmark = [pytest.mark.docker, pytest.mark.network, pytest.mark.slow]

NAME = "tmpl-adopted"
KIT = template.KIT_VERSION
# Their project, shaped like a typical public DVC project: four stages in scripts of their own, a
# requirements.txt, raw data tracked by DVC, a random forest fitted on two threads, a metric in
# a DVC output and dvclive-style metrics listed at the top level of dvc.yaml. Its report stage
# imports sortedcontainers, which the kit's runtime image lacks (its dev tools have it, so the
# native run works): adopt must import it from requirements.
REQUIREMENTS = (
    "# what our stages import\nscikit-learn>=1.3\npandas>=2.0\nPyYAML>=6\nsortedcontainers>=2.4\n"
)
SCRIPTS = {
    "src/prepare.py": """\
import os, sys
import pandas as pd, yaml
params = yaml.safe_load(open("params.yaml"))["prepare"]
raw = pd.read_csv(sys.argv[1])
test = raw.sample(frac=params["split"], random_state=params["seed"]).sort_index()
os.makedirs(sys.argv[2], exist_ok=True)
raw.drop(test.index).to_csv(f"{sys.argv[2]}/train.csv", index=False)
test.to_csv(f"{sys.argv[2]}/test.csv", index=False)
""",
    "src/featurize.py": """\
import os, sys
import pandas as pd
os.makedirs(sys.argv[2], exist_ok=True)
for part in ("train", "test"):
    frame = pd.read_csv(f"{sys.argv[1]}/{part}.csv")
    frame["x1_x2"] = frame["x1"] * frame["x2"]
    frame["x3_squared"] = frame["x3"] ** 2
    frame.to_csv(f"{sys.argv[2]}/{part}.csv", index=False, float_format="%.9g")
""",
    "src/train.py": """\
import pickle, sys
import pandas as pd, yaml
from sklearn.ensemble import RandomForestClassifier
params = yaml.safe_load(open("params.yaml"))["train"]
train = pd.read_csv(f"{sys.argv[1]}/train.csv")
model = RandomForestClassifier(
    n_estimators=params["n_estimators"], max_depth=params["max_depth"],
    random_state=params["seed"], n_jobs=params["n_jobs"],
).fit(train.drop(columns="label"), train["label"])
pickle.dump(model, open(sys.argv[2], "wb"))
""",
    "src/evaluate.py": """\
import json, os, pickle, sys
import pandas as pd
from sortedcontainers import SortedDict
from sklearn.metrics import accuracy_score, roc_auc_score
model = pickle.load(open(sys.argv[1], "rb")).set_params(n_jobs=1)
test = pd.read_csv(f"{sys.argv[2]}/test.csv")
proba = model.predict_proba(test.drop(columns="label"))[:, 1]
scores = {"auc": round(roc_auc_score(test["label"], proba), 6),
          "accuracy": round(accuracy_score(test["label"], proba > 0.5), 6)}
os.makedirs(sys.argv[3], exist_ok=True)
json.dump(scores, open(f"{sys.argv[3]}/scores.json", "w"), indent=2, sort_keys=True)
page = "".join(f"<p>{k}: {v}</p>" for k, v in SortedDict(scores).items())
open(f"{sys.argv[3]}/report.html", "w").write(page)
os.makedirs("dvclive", exist_ok=True)
json.dump({"test": scores, "step": 0}, open("dvclive/metrics.json", "w"), indent=4)
""",
}
PARAMS = """\
# Their params.
prepare:
  split: 0.25
  seed: 7
train:
  n_estimators: 25
  max_depth: 5
  seed: 7
  n_jobs: 2
"""
STAGES = {
    "prepare": [
        "-p", "prepare", "-d", "src/prepare.py", "-d", "data/raw.csv", "-o", "data/prepared",
        "python src/prepare.py data/raw.csv data/prepared",
    ],
    "featurize": [
        "-d", "src/featurize.py", "-d", "data/prepared", "-o", "data/features",
        "python src/featurize.py data/prepared data/features",
    ],
    "train": [
        "-p", "train", "-d", "src/train.py", "-d", "data/features", "-o", "model.pkl",
        "python src/train.py data/features model.pkl",
    ],
    "evaluate": [
        "-d", "src/evaluate.py", "-d", "model.pkl", "-d", "data/features",
        "-m", "eval/scores.json", "-o", "eval/report.html",
        "python src/evaluate.py model.pkl data/features eval",
    ],
}  # fmt: skip
# The walk-through in docs/projects.md ("Adopting an existing DVC project"), run verbatim in their
# project; `lockstep` is the kit's command (here with the test's tagged copy of the kit as
# template).
WALKTHROUGH = [
    "lockstep adopt --defaults",
    "./inv repro",
    'git add -A && git commit -m "Results from the pinned image"',
    "./inv rerun HEAD",
]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def raw_data() -> str:
    """Their raw data: four features and a label that depends on them, with noise."""
    rng = random.Random(0)
    lines = ["x1,x2,x3,x4,label"]
    for _ in range(800):
        x = [rng.gauss(0, 1) for _ in range(4)]
        label = int(x[0] + 0.5 * x[1] * x[2] - 0.8 * x[3] + rng.gauss(0, 0.7) > 0)
        lines.append(",".join(f"{v:.6f}" for v in x) + f",{label}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def theirs(tmp_path_factory, kit_source) -> Path:
    """Their DVC project: raw data added with `dvc add`, stages with `dvc stage add`, top-level
    metrics, reproduced natively with the kit's own DVC and libraries, committed."""
    root = tmp_path_factory.mktemp("adopt") / NAME
    (root / "data").mkdir(parents=True)
    for name, text in SCRIPTS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "params.yaml").write_text(PARAMS)
    (root / "requirements.txt").write_text(REQUIREMENTS)
    (root / "README.md").write_text("# Their project\n")
    (root / ".gitignore").write_text("/scratch/\n")
    (root / "data/raw.csv").write_text(raw_data())
    env = {"PATH": f"{template.BIN}{os.pathsep}{os.environ['PATH']}"}
    dvc = template.BIN / "dvc"
    commands.git(root, "init", "--quiet")
    commands.run([dvc, "init", "--quiet"], root)
    commands.run([dvc, "add", "--quiet", "data/raw.csv"], root)
    for stage, args in STAGES.items():
        commands.run([dvc, "stage", "add", "--name", stage, *args], root)
    with (root / "dvc.yaml").open("a") as dvc_yaml:
        dvc_yaml.write("metrics:\n- dvclive/metrics.json\n")
    commands.run([dvc, "repro", "--quiet"], root, env=env)
    commands.commit_all(root, "their pipeline")
    # The kit's Poetry, as `./inv` would install it (git-ignored here until adopt ignores it).
    template.share_poetry(root, pins=kit_source)
    with (root / ".git/info/exclude").open("a") as exclude:
        exclude.write(f"/{paths.STATE}/\n")
    return root


def walk(project: Path, kit_source: Path, command: str) -> subprocess.CompletedProcess[str]:
    """One walk-through command, run by bash in `project` as its user would (see `template.inv`)."""
    kit = f'lockstep() {{ "{template.BIN}/lockstep" "$@" --template="{kit_source}"; }}'
    return template.shell(project, f"{kit}; {command}")


@pytest.fixture(scope="module")
def adopted(theirs, kit_source, project_images) -> dict:
    """Their project before, and the output of each walk-through command.

    dvc.lock changes by design (each stage gains the fingerprint dependency); its outputs' md5s
    are compared on their own.
    """
    before = {
        "dvc.yaml": (theirs / "dvc.yaml").read_text(),
        "README.md": (theirs / "README.md").read_text(),
        "outputs": projects.out_hashes(theirs),
        "metrics": (theirs / "dvclive/metrics.json").read_text(),
        "files": {
            name: digest(theirs / name)
            for name in commands.git(theirs, "ls-files").split()
            if name not in ("dvc.yaml", "dvc.lock", ".gitignore", "README.md", ".dvc/config")
        },
    }
    project_images.extend([NAME, NAME + "-dev"])
    results = [walk(theirs, kit_source, command) for command in WALKTHROUGH]
    return {**before, "adopt": results[0], "repro": results[1], "rerun": results[3]}


def test_adopt_imports_their_requirements_and_commits_the_kit(adopted, theirs):
    assert "adopted the lockstep kit" in adopted["adopt"].stdout
    assert "importing the dependencies of requirements.txt" in adopted["adopt"].stderr
    log = commands.git(theirs, "log", "--format=%s").splitlines()
    assert log[:2] == ["Results from the pinned image", f"Adopt the lockstep kit {KIT}"]
    added = set(commands.git(theirs, "show", "--name-only", "--format=", "HEAD~1").split())
    for name in ("tasks.py", "inv", "docker/Dockerfile", "pyproject.toml", "poetry.lock"):
        assert name in added
    assert ".devcontainer/devcontainer.json" in added and "environment.yaml" in added
    assert ".copier-answers.yml" in added
    assert not [name for name in added if name.startswith("src/lockstep")]  # pinned, not copied
    assert "lockstep-kit" in (theirs / "poetry.lock").read_text()
    for theirs_only in ("params.yaml", "src/train.py", "requirements.txt", "data/raw.csv.dvc"):
        assert theirs_only not in added
    gitignore = (theirs / ".gitignore").read_text()
    assert gitignore.startswith("/scratch/\n") and "/.venv/" in gitignore
    # What their stages import is locked for the image, next to the kit's own pins.
    project = tomllib.loads((theirs / "pyproject.toml").read_text())["project"]
    assert "sortedcontainers>=2.4" in project["dependencies"]
    assert "scikit-learn (==1.9.1)" in project["dependencies"]
    lock = tomllib.loads((theirs / "poetry.lock").read_text())
    found = next(p for p in lock["package"] if p["name"] == "sortedcontainers")
    assert "main" in found["groups"]
    assert not any("source" in package for package in lock["package"])
    # Plain `dvc repro` finds the fingerprint every stage depends on from the first commit.
    environment = yaml.safe_load(commands.git(theirs, "show", "HEAD~1:environment.yaml"))
    assert environment == {"fingerprint": "unbuilt", "image": None}
    # The remote answer (here the default, as they had none) is the default DVC remote.
    remote = commands.run([template.BIN / "dvc", "remote", "default"], theirs).stdout.strip()
    assert remote == "lockstep"
    readme = (theirs / "README.md").read_text()
    assert readme.startswith(adopted["README.md"])
    assert "## Reproducible runs (lockstep)" in readme and "./inv rerun HEAD" in readme


def test_their_files_are_untouched_and_dvc_yaml_only_gains_lines(adopted, theirs):
    for name, sha in adopted["files"].items():
        assert digest(theirs / name) == sha, name
    diff = difflib.ndiff(
        adopted["dvc.yaml"].splitlines(), (theirs / "dvc.yaml").read_text().splitlines()
    )
    assert not [line for line in diff if line.startswith("- ")]
    old = yaml.safe_load(adopted["dvc.yaml"])
    new = yaml.safe_load((theirs / "dvc.yaml").read_text())
    assert new["metrics"] == old["metrics"] == ["dvclive/metrics.json"]
    assert list(new["stages"]) == list(old["stages"])
    for name, stage in new["stages"].items():
        assert {"environment.yaml": ["fingerprint"]} in stage.pop("params")
        old["stages"][name].pop("params", None)
        assert stage == old["stages"][name], name


def test_their_pipeline_runs_in_the_container_with_lineage_for_every_stage(adopted, theirs):
    assert all(f"Running stage '{stage}'" in adopted["repro"].stderr for stage in STAGES)
    record = json.loads((theirs / lineage.PATH).read_text())
    fingerprint = yaml.safe_load((theirs / "environment.yaml").read_text())["fingerprint"]
    lock = lineage.read_dvc_lock(theirs)
    assert sorted(record["stages"]) == sorted(STAGES)
    for stage, entry in record["stages"].items():
        assert entry["where"] == "container", stage
        assert entry["image_tag"].startswith(f"{NAME}:"), stage
        assert entry["fingerprint"] == fingerprint != "unbuilt", stage
        assert entry["outs"] == lineage.stage_outputs(lock, stage), stage


def test_their_outputs_are_byte_for_byte_what_they_were(adopted, theirs):
    assert projects.out_hashes(theirs) == adopted["outputs"]
    assert (theirs / "dvclive/metrics.json").read_text() == adopted["metrics"]
    # Now each stage also depends on the environment it ran in.
    lock = yaml.safe_load((theirs / "dvc.lock").read_text())
    for stage in STAGES:
        assert "fingerprint" in lock["stages"][stage]["params"]["environment.yaml"]


def test_the_committed_result_reruns_identical_with_every_metric_compared(adopted):
    out = adopted["rerun"].stdout
    assert "reproduced: HEAD" in out
    # The raw data came from DVC's cache; the metrics at the top level of dvc.yaml and those
    # inside a DVC output were compared, not skipped.
    for metric in ("dvclive/metrics.json:test.auc", "eval/scores.json:auc"):
        assert metric in out, out
    for output in ("data/prepared", "data/features", "model.pkl", "eval/report.html"):
        assert output in out, out


def test_the_kit_offers_only_tasks_that_fit_an_adopted_project(adopted, theirs):
    listed = template.inv(theirs, "--list").stdout
    assert "repro" in listed and "rerun" in listed and "refresh" not in listed
    tests = template.inv(theirs, "test")
    assert "no tests yet: put pytest tests under tests/" in tests.stdout
    lint = template.inv(theirs, "lint")
    assert "nothing to lint" in lint.stdout


def test_adopting_twice_a_folder_without_dvc_or_clashing_requirements_says_why(
    adopted, theirs, tmp_path
):
    again = template.lockstep("adopt", "--defaults", cwd=theirs, check=False)
    assert again.returncode == 2
    assert "already uses the lockstep kit (.copier-answers.yml)" in again.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    commands.git(plain, "init", "--quiet")
    refused = template.lockstep("adopt", "--defaults", cwd=plain, check=False)
    assert refused.returncode == 2
    assert "is not a DVC project (no dvc.yaml and .dvc/)" in refused.stderr
    # A requirement the kit's pin does not satisfy: refused before anything changes.
    old = tmp_path / "old"
    old.mkdir()
    commands.git(old, "init", "--quiet")
    commands.run([template.BIN / "dvc", "init", "--quiet"], old)
    (old / "dvc.yaml").write_text("stages: {}\n")
    (old / "requirements.txt").write_text("pandas<2\n")
    commands.commit_all(old, "theirs")
    status = commands.git(old, "status", "--porcelain", "--ignored")
    clash = template.lockstep("adopt", "--defaults", cwd=old, check=False)
    assert clash.returncode == 2
    assert "requirements.txt asks for pandas<2 but the kit pins pandas 3.1.1" in clash.stderr
    assert commands.git(old, "status", "--porcelain", "--ignored") == status


def test_the_documented_walk_through_is_what_this_test_runs():
    page = (template.REPO / "docs" / "projects.md").read_text()
    section = page[page.index("## Adopting an existing DVC project") :]
    start = section.index("```sh\n") + len("```sh\n")
    block = section[start : section.index("\n```", start)]
    assert block.splitlines() == WALKTHROUGH
