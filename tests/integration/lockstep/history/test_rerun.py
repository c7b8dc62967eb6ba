"""`invoke rerun REV`: a past result, rerun in its recorded image, proved identical.

The image comes from the engine, else the registry by digest, else the DVC archive; the rerun
happens in a temporary worktree, so the user's checkout (revision B) is never touched; every
failure is one line and leaves no worktree or container behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from lockstep import config
from lockstep.images import environment
from lockstep.records import lineage, signing

from tests.support import browser, commands, machines, projects

pytestmark = pytest.mark.docker

A, B, START = "model/a", "model/b", "start"
NEVER_BUILT = "sha256:" + hashlib.sha256(b"an image nobody ever built").hexdigest()


def leftovers(kit, root: Path, proc) -> list[str]:
    """Worktrees and run containers a rerun left behind (others may run theirs meanwhile)."""
    listed = kit.git(root, "worktree", "list", "--porcelain")
    found = [listed] if listed.count("\nworktree ") else []
    trees = re.findall(r"git worktree add --detach --quiet (\S+)", proc.stderr)
    found += [f"worktree {tree}" for tree in trees if Path(tree).parent.exists()]
    names = re.findall(r"--name (lockstep-run-\w+)", proc.stderr)
    for cid in kit.run_containers():
        described = kit.docker(
            "inspect",
            "--format",
            "{{.Name}} {{range .Mounts}}{{.Source}} {{end}}",
            cid,
            check=False,
        ).stdout
        if any(word in described for word in names + trees):
            found.append(f"container {described}")
    return found


def verdict(stdout: str) -> dict[str, bool]:
    """Each output path and metric in verdict tables, and whether it matched."""
    rows = {}
    for line in stdout.splitlines():
        words = line.split()
        if len(words) == 3 and words[2] in ("identical", "DIFFERS"):
            rows[words[1]] = words[2] == "identical"
        elif words and ".json:" in words[0]:
            rows[words[0]] = words[-1] != "DIFFERS"
    return rows


def outputs_at(history, rev: str) -> set[str]:
    lock = yaml.safe_load(history.kit.git(history.root, "show", f"{rev}:dvc.lock"))
    return {out["path"] for stage in lock["stages"].values() for out in stage["outs"]}


def tamper(history, tag: str, delta: float) -> str:
    """A commit on A whose committed metrics say auc is `delta` higher than A produced."""

    def edit(tree: Path) -> None:
        path = tree / "reports/metrics.json"
        metrics = json.loads(path.read_text())
        metrics["auc"] += delta
        path.write_text(json.dumps(metrics, indent=2) + "\n")

    return history.commit_variant(tag, A, edit)


def test_a_past_revision_reruns_identical_and_the_checkout_is_untouched(kit, history) -> None:
    before = projects.checkout_state(history.root)
    assert before["head"].strip() == kit.git(history.root, "rev-parse", B).strip()
    recorded = kit.git(history.root, "show", f"{A}:reports/metrics.json")
    assert json.loads(recorded) != json.loads((history.root / "reports/metrics.json").read_text())

    proc = kit.invoke(history.root, "rerun", A)

    rows = verdict(proc.stdout)
    assert outputs_at(history, A) | {"reports/metrics.json:auc"} <= set(rows), proc.stdout
    assert all(rows.values()), proc.stdout
    assert f"reproduced: {A}" in proc.stdout
    assert f"rerun of {A} in {history.image_id[:19]}" in proc.stdout
    assert "the committed src/ is the one that ran" in proc.stdout
    assert "docker pull" not in proc.stderr  # the image was local
    assert projects.checkout_state(history.root) == before
    assert not leftovers(kit, history.root, proc)


def test_a_result_committed_with_other_source_than_ran_names_the_files(kit, history) -> None:
    """A's results committed with an edit they never ran with (a comment): the rerun is
    identical, and still says which files differ from the source that ran."""
    module = "src/credit_model/stages/train.py"

    def edit(tree: Path) -> None:
        path = tree / module
        path.write_text(path.read_text() + "# edited after the results were made\n")

    tag = history.commit_variant("test/other-source", A, edit)
    ran = {entry["source_tree"] for entry in history.record(A)["stages"].values()}
    assert len(ran) == 1 and None not in ran, ran

    proc = kit.invoke(history.root, "rerun", tag)

    assert f"reproduced: {tag}" in proc.stdout, proc.stdout
    differs = f"the committed src/ differs from the one that ran ({ran.pop()[:12]}): {module}"
    assert differs in proc.stdout, proc.stdout


def test_an_image_missing_here_is_pulled_from_the_registry_by_digest(
    kit, history, empty_engine
) -> None:
    proc = kit.invoke(history.root, "rerun", A, env=empty_engine.env())

    assert f"pull --quiet {history.repository}@{history.digest}" in proc.stderr
    assert f"reproduced: {A}" in proc.stdout
    assert empty_engine.image_id(history.image_id) == history.image_id
    assert not leftovers(kit, history.root, proc)


def test_tampered_metrics_are_reported_and_fail_the_rerun(kit, history) -> None:
    tampered = tamper(history, "tampered/auc", 0.001)

    # Several revisions in one call, one of them a tag glob; on a machine that differs from the
    # recorded one in one numeric setting, which the differing verdict names.
    proc = kit.invoke(
        history.root, "rerun", f"{A} tampered/*", check=False, env={"PYTHONHASHSEED": "7"}
    )

    assert proc.returncode == 1, proc.stderr
    assert "not reproduced: tampered/auc" in proc.stderr
    first, second = proc.stdout.split(f"rerun of {tampered} in ")
    assert f"rerun of {A} in " in first and "DIFFERS" not in first
    differing = [line for line in second.splitlines() if line.endswith("DIFFERS")]
    assert len(differing) == 1 and differing[0].startswith("reports/metrics.json:auc"), second
    assert re.search(r"reports/metrics.json:auc\s+[\d.]+\s+[\d.]+\s+-0.001\s", second), second
    assert "likely cause: env PYTHONHASHSEED: 7 added" in second, second
    assert "likely cause" not in first, first
    assert not leftovers(kit, history.root, proc)


def test_a_tolerance_accepts_metrics_within_it_and_the_page_says_so(kit, history) -> None:
    tampered = tamper(history, "tampered/auc", 0.001)
    commit = kit.git(history.root, "rev-parse", tampered).strip()
    page = history.root / signing.RERUNS / f"{commit}.html"

    proc = kit.invoke(history.root, "rerun", tampered, "--tolerance", "0.01", "--html")

    assert f"reproduced: {tampered}" in proc.stdout
    assert "DIFFERS" not in proc.stdout
    assert f"verdict page: {signing.RERUNS}/{commit}.html" in proc.stdout
    try:
        with browser.offline(page) as visit:
            verdict = f"Rerun of {tampered}: within tolerance 0.01"
            assert visit.page.locator("h1").inner_text() == verdict
            for name in (min(outputs_at(history, A)), "reports/metrics.json:auc"):
                assert visit.page.get_by_role("row", name=name).first.is_visible(), name
            browser.assert_quiet(visit)
    finally:
        page.unlink()  # the session's other tests share this checkout


def lost(history) -> str:
    """A's results, said to come from an image that is nowhere."""
    return history.edit_lineage(
        "lost/a", image_id=NEVER_BUILT, registry_digest=None, registry_repository=None
    )


def unsatisfiable(history) -> str:
    """A result whose image is nowhere, and whose poetry.lock names a version of a locked
    distribution the package index does not have (as one yanked years later would be)."""

    def edit(tree: Path) -> None:
        lock = tree / "poetry.lock"
        text = lock.read_text()
        locked = 'name = "six"\nversion = "1.17.0"'
        assert locked in text, "the example no longer locks six 1.17.0: pick another"
        text = text.replace(locked, 'name = "six"\nversion = "1.17.99"')
        lock.write_text(text.replace("six-1.17.0", "six-1.17.99"))

    return history.commit_variant("unsatisfiable/a", lost(history), edit)


def broken(history) -> str:
    """A revision whose pipeline fails in the container (an impossible row count)."""
    return history.commit_variant(
        "broken/a", A, lambda tree: projects.set_param(tree, "rows_per_month", "-5")
    )


@pytest.mark.parametrize(
    ("make_rev", "expected"),
    [
        pytest.param(
            lambda history: "no-such-revision",
            r"^error: unknown revision 'no-such-revision'",
            id="unknown revision",
        ),
        pytest.param(
            lambda history: START,
            rf"^error: {START} has no lineage: {lineage.PATH} is missing",
            id="no lineage",
        ),
        pytest.param(
            lambda history: lost(history),
            rf"^error: image {NEVER_BUILT[:19]} found nowhere: not in the local engine; "
            r"never pushed to a registry; DVC archive: no DVC archive of sha256:\w{12} "
            r"\(workspace: images/\w{64}\.dvc is not there; "
            r"\w{40}: images/\w{64}\.dvc is not there\)",
            id="image found nowhere",
        ),
        pytest.param(
            unsatisfiable,
            rf"^error: image {NEVER_BUILT[:19]} found nowhere: .*; not rebuilt from the locks "
            r"of unsatisfiable/a \(installing six 1\.17\.99 failed",
            id="lock unsatisfiable",
        ),
        pytest.param(
            broken,
            r"^error: the pipeline failed when rerun at broken/a",
            id="pipeline fails",
        ),
    ],
)
def test_a_failing_rerun_says_why_in_one_line_and_leaves_nothing(
    kit, history, make_rev, expected
) -> None:
    rev = make_rev(history)
    before = projects.checkout_state(history.root)

    proc = kit.invoke(history.root, "rerun", rev, check=False)

    assert re.search(expected, commands.one_error(proc)), proc.stderr
    assert not leftovers(kit, history.root, proc)
    assert projects.checkout_state(history.root) == before


def test_an_interrupted_rerun_leaves_nothing_behind(kit, history) -> None:
    before = projects.checkout_state(history.root)
    process = subprocess.Popen(
        [str(kit.invoke_cli), "-r", str(history.root), "rerun", A],
        env=kit.env(history.root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen, interrupted = [], False
    try:
        for line in process.stdout:
            seen.append(line)
            if line.startswith("Running stage"):
                os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the user's terminal
                interrupted = True
                break
        seen.append(process.communicate(timeout=120)[0])
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(seen)

    assert interrupted, output
    assert process.returncode != 0 and "reproduced" not in output, output
    assert not leftovers(kit, history.root, SimpleNamespace(stderr=output))
    assert projects.checkout_state(history.root) == before


# Nowhere at all: the revision's own locks ---------------------------------------------------------


def test_an_image_nothing_holds_is_rebuilt_from_the_revisions_locks(kit) -> None:
    """A result whose image is in no engine, registry or remote: the image holds no source, so
    the revision's locks rebuild it, byte for byte, and the rerun is identical. Rerun by
    another user than the one who made it, with caches of their own (all empty): the same id,
    and every file the rerun leaves is theirs."""
    scratch = Path(tempfile.mkdtemp(prefix="lockstep-it-", dir="/tmp"))
    kit.scratch.append(scratch)
    root = kit.copy("rebuild", dest=scratch / "project", shared_poetry=False)
    kit.change_source(root, uuid.uuid4().hex)  # an image of its own, removable
    projects.set_param(root, "max_iter", "40")
    commands.commit_all(root, "an image of its own; quick params")
    kit.invoke(root, "repro")
    commands.commit_all(root, "results", tag="model/rebuilt")
    (image_id,) = lineage.read(root / lineage.PATH).images()
    # The environment image too, so the rung assembles the image again, not only its labels.
    settings = config.load(root)
    base_id = (
        kit.docker(
            "image", "inspect", "--format", '{{index .Config.Labels "io.lockstep.base"}}', image_id
        )
        .stdout.strip()
        .rsplit("@", 1)[1]
    )
    env_tag = f"{settings.image}:env-{environment.key(settings, base_id)[:12]}"
    try:
        kit.docker("image", "rm", "--force", image_id, kit.image_id(env_tag))
        # Read before the hand-over: `git status` as root rewrites the index, as root's.
        before = projects.checkout_state(root)
        theirs = machines.UserProject.hand_over(root, "lockstep-it-rerun", kit.bin)

        proc = theirs.invoke("rerun", "model/rebuilt", timeout=1200)

        assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
        assert f"image: {image_id[:19]} is not in the local engine" in proc.stderr
        assert "image: never pushed to a registry" in proc.stderr
        assert "image: DVC archive: no DVC archive of" in proc.stderr
        assert "image: rebuilt from the locks of model/rebuilt (exact)" in proc.stderr
        assert "reproduced: model/rebuilt" in proc.stdout, proc.stdout
        assert kit.image_id(image_id) == image_id
        assert not theirs.foreign_files()
        assert projects.checkout_state(root) == before
    finally:
        kit.remove_images(env_tag)
        kit.docker("image", "rm", "--force", image_id, check=False)


# No registry: the DVC archive -------------------------------------------------------------------


@pytest.fixture(scope="module")
def archived(kit):
    """A copy with no registry and an image of its own (removable): repro, commit."""
    root = kit.copy("archive")
    kit.change_source(root, uuid.uuid4().hex)
    projects.set_param(root, "max_iter", "40")
    kit.git(root, "commit", "--quiet", "--all", "-m", "an image of its own; quick params")
    built_at = kit.git(root, "rev-parse", "HEAD").strip()
    try:
        kit.invoke(root, "repro")
        kit.git(root, "commit", "--quiet", "--all", "-m", "results")
        (image_id,) = lineage.read(root / lineage.PATH).images()
        yield root, image_id
    finally:
        projects.remove_images_built_at(kit, built_at)
        for folder in (".lockstep/dvc-remote", ".dvc/cache"):
            shutil.rmtree(root / folder, ignore_errors=True)


def test_with_no_registry_the_image_is_loaded_from_the_dvc_archive(kit, archived) -> None:
    root, image_id = archived
    assert config.load(root).registry == ""

    proc = kit.invoke(root, "publish")
    dvc_file = f"images/{image_id.removeprefix('sha256:')}.dvc"
    assert dvc_file in proc.stdout
    assert (root / dvc_file).is_file() and not (root / dvc_file.removesuffix(".dvc")).exists()
    remote = root / ".lockstep/dvc-remote"
    assert sum(p.stat().st_size for p in remote.rglob("*") if p.is_file()) > 100_000_000
    kit.git(root, "add", "images")
    kit.git(root, "commit", "--quiet", "-m", "archive the image")
    kit.git(root, "tag", "archived")
    # Air-gapped and freshly cloned: no image in the engine, no DVC cache; only the remote.
    shutil.rmtree(root / ".dvc/cache")
    kit.docker("image", "rm", "--force", image_id)

    proc = kit.invoke(root, "rerun", "archived")

    assert "reproduced: archived" in proc.stdout
    assert "docker pull" not in proc.stderr
    assert "from its layout in the DVC remote" in proc.stderr
    assert "docker load --quiet" in proc.stderr
    assert kit.image_id(image_id) == image_id
    assert not leftovers(kit, root, proc)


def test_publish_without_a_dvc_remote_fails_before_saving_anything(kit, archived) -> None:
    source, _ = archived
    root = kit.copy("no-dvc-remote")
    shutil.copy(source / lineage.PATH, root / lineage.PATH)  # names a local image
    kit.dvc(root, "remote", "remove", "local")
    before = projects.file_hashes(root)

    proc = kit.invoke(root, "publish", check=False)

    assert "no DVC remote" in commands.one_error(proc)
    assert "docker save" not in proc.stderr
    assert not (root / "images").exists()
    assert projects.file_hashes(root) == before


def test_a_gate_over_twenty_releases_reports_twenty_rows_rerunning_each_commit_once(
    kit, history
) -> None:
    """Twenty release tags on the two commits A and B: two reruns, a row for every tag."""
    released = {f"gate/{number:02}": (A, B)[number % 2] for number in range(1, 21)}
    for tag, rev in released.items():
        kit.git(history.root, "tag", tag, rev)
    try:
        proc = kit.invoke(history.root, "gate", "--tags", "gate/*")
    finally:
        kit.git(history.root, "tag", "--delete", *released)

    rows = re.findall(r"^(gate/\d+)\s+sha256:\S+\s+identical\s", proc.stdout, re.M)
    assert sorted(rows) == sorted(released), proc.stdout
    ran = re.findall(r"^rerun of (gate/\d+) in ", proc.stdout, re.M)
    assert sorted(released[tag] for tag in ran) == [A, B], proc.stdout
    assert proc.stderr.count("git worktree add") == 2, proc.stderr
    assert "reproduced: " in proc.stdout and not leftovers(kit, history.root, proc)


# On Slurm: a job per revision, all at once ----------------------------------------------------


def test_three_tags_rerun_at_once_on_slurm_identical_to_their_local_runs(
    kit, history, slurm_cluster
) -> None:
    """The results were made here; each rerun is a job on the cluster, and byte-identical."""
    # A commit of its own (a rerun per commit), changing nothing the pipeline depends on.
    history.commit_variant("model/c", B, lambda tree: (tree / "README.md").write_text("c\n"))
    before = projects.checkout_state(history.root)
    try:
        proc = kit.invoke(
            history.root, "rerun", "model/*", "--on", "slurm", env=slurm_cluster.env()
        )
    finally:
        kit.git(history.root, "tag", "--delete", "model/c")

    rows = re.findall(
        r"^(model/\w)\s+sha256:\S+\s+Slurm job (\S+) on (\S+)\s+identical", proc.stdout, re.M
    )
    assert sorted(rev for rev, _, _ in rows) == [A, B, "model/c"], proc.stdout
    assert len({job for _, job, _ in rows}) == 3, proc.stdout
    assert f"reproduced: {A}, {B}, model/c" in proc.stdout
    # All three ran side by side: each was RUNNING before the first COMPLETED.
    states = re.findall(r"Slurm job (\S+) \(rerun-[\w-]+\): (\w+)", proc.stderr)
    first_done = next(i for i, (_, state) in enumerate(states) if state == "COMPLETED")
    assert {job for job, state in states[:first_done] if state == "RUNNING"} == {
        job for _, job, _ in rows
    }, proc.stderr
    assert not leftovers(kit, history.root, proc)
    assert projects.checkout_state(history.root) == before
