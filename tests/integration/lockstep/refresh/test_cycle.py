"""`invoke refresh` against the real engine: champion tag, challenger experiment, decision."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.support import browser

pytestmark = pytest.mark.docker

NEW_MONTH = "2024-12"
REPORT = Path("reports/refresh/report.json")
PAGE = Path("reports/refresh/report.html")


def set_refresh(project: Path, **values) -> None:
    """Edit the refresh section of params.yaml in place (left uncommitted, like a user would)."""
    params = project / "params.yaml"
    text = params.read_text()
    for key, value in values.items():
        text, count = re.subn(rf"(?m)^(  {key}:\s*)\S+", rf"\g<1>{value}", text)
        assert count == 1, key
    params.write_text(text)


def state(kit, project: Path) -> tuple[str, str, str]:
    """What must not change: HEAD, the branch, and the working tree's status."""
    return (
        kit.git(project, "rev-parse", "HEAD"),
        kit.git(project, "branch", "--show-current"),
        kit.git(project, "status", "--porcelain", "--untracked-files=all"),
    )


@pytest.fixture(scope="module")
def champion(kit) -> Path:
    """A project whose committed results are tagged as the champion model/v1."""
    project = kit.reproduced("refresh")
    kit.git(project, "tag", "model/v1")
    return project


def refresh(kit, project: Path, *args: str):
    return kit.invoke(project, "refresh", "--as-of", NEW_MONTH, *args, check=False)


def test_without_a_champion_it_says_how_to_make_one(kit):
    project = kit.copy("no-champion")
    proc = refresh(kit, project)
    assert proc.returncode == 2
    assert "no champion yet" in proc.stderr and "git tag model/v1" in proc.stderr


def test_no_new_data_means_no_action(kit, champion):
    proc = kit.invoke(champion, "refresh", "--as-of", "2024-06", check=False)
    assert proc.returncode == 0, proc.stderr
    assert "no new data since the champion" in proc.stdout


def test_a_gain_below_the_minimum_is_no_action_and_the_report_is_deterministic(kit, champion):
    set_refresh(champion, min_gain="0.5")
    before = state(kit, champion)
    proc = refresh(kit, champion)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = (champion / REPORT).read_bytes()
    report = json.loads(first)
    assert report["decision"] == "no action"
    assert report["window"]["holdout_months"] == [f"2024-{m:02d}" for m in range(7, 13)]
    assert report["window"]["rows"] == 6 * kit.rows_per_month
    for side in ("champion", "challenger"):
        assert set(report[side]["metrics"]) >= {"auc", "brier", "log_loss"}
        assert report[side]["image_id"].startswith("sha256:")
    low, high = report["interval"]
    assert low <= report["gain"] <= high
    assert (champion / "reports/refresh/report.md").read_text().startswith("# Model refresh")
    assert f"page: {PAGE}" in proc.stdout
    page = (champion / PAGE).read_bytes()
    with browser.offline(champion / PAGE) as visit:
        browser.assert_charts_drawn(visit, 1)
        browser.assert_quiet(visit)
    assert state(kit, champion) == before, "the user's branch or working tree changed"
    assert "challenger-2024-12" in kit.dvc(champion, "exp", "list", "--all-commits").stdout

    assert refresh(kit, champion).returncode == 0
    assert (champion / REPORT).read_bytes() == first
    assert (champion / PAGE).read_bytes() == page


def test_a_window_with_too_few_defaults_is_refused(kit, champion):
    set_refresh(champion, min_events="100000")
    proc = refresh(kit, champion)
    set_refresh(champion, min_events="30")
    assert proc.returncode == 2
    assert "window too small to compare" in proc.stderr


def test_the_champions_code_cannot_plant_anything_in_the_repository(kit, champion):
    """Refresh runs the champion's code: it must not reach the host's git (hooks, config) nor
    point the worktree at a repository of its own making for the host's git to use."""
    pyproject = champion / "pyproject.toml"
    original = pyproject.read_text()
    hook = champion / ".git" / "hooks" / "post-checkout"
    # $e keeps the verdicts whole only in what the shell prints, not in the echoed command.
    attack = (
        f"sh -c 'e=ED; touch {hook} && echo PLANT$e: hook || echo REFUS$e: hook; "
        "echo gitdir: /tmp > .git && echo PLANT$e: gitdir || echo REFUS$e: gitdir' 2>/dev/null; "
    )
    pyproject.write_text(original.replace('score = "', f'score = "{attack}', 1))
    try:
        proc = refresh(kit, champion)
    finally:
        pyproject.write_text(original)
    output = proc.stdout + proc.stderr
    assert proc.returncode in (0, 3), output
    assert "REFUSED: hook" in output and "REFUSED: gitdir" in output
    assert "PLANTED" not in output and not hook.exists()
    assert "challenger-2024-12" in kit.dvc(champion, "exp", "list", "--all-commits").stdout


def test_a_recommended_release_exits_3_and_promote_tags_the_challenger(kit, champion):
    set_refresh(champion, min_gain="-1.0")
    before = state(kit, champion)
    proc = refresh(kit, champion)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert json.loads((champion / REPORT).read_text())["decision"] == "release recommended"

    proc = refresh(kit, champion, "--promote")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "promoted: model/v2" in proc.stdout
    assert state(kit, champion) == before
    lineage = json.loads(kit.git(champion, "show", "model/v2:reports/lineage.json"))
    assert set(lineage["stages"]) == {"ingest", "features", "train", "evaluate", "report"}
    params = kit.git(champion, "show", "model/v2:params.yaml")
    assert f'as_of: "{NEW_MONTH}"' in params or f"as_of: {NEW_MONTH}" in params
    # The new champion has the newest data: nothing left to do.
    assert refresh(kit, champion).returncode == 0


def test_a_champion_whose_image_is_nowhere_is_a_clear_error(kit):
    """Its image is in no engine, registry or remote, and its locks rebuild another one (as for
    a record an older kit made): refresh stops with one line."""
    project = kit.copy("lost-image")
    kit.invoke(project, "repro")
    lineage = project / "reports/lineage.json"
    record = json.loads(lineage.read_text())
    never = "sha256:" + hashlib.sha256(b"an image nobody ever built").hexdigest()
    for entry in record["stages"].values():
        entry["image_id"] = never
    lineage.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    kit.git(project, "add", "--all")
    kit.git(project, "commit", "--quiet", "-m", "results, said to come from an image nowhere")
    kit.git(project, "tag", "model/v1")
    proc = refresh(kit, project)
    assert proc.returncode == 2
    assert "found nowhere" in proc.stderr and "not in the local engine" in proc.stderr
    assert "rebuilt from the locks of model/v1 as sha256:" in proc.stderr, proc.stderr
    assert "not the recorded image" in proc.stderr
