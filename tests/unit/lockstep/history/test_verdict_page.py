"""Unit tests for the rerun verdict's page: its content, its bytes, and how a browser shows it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from lockstep.history import facts, verdict_page
from lockstep.history.hints import suspects
from lockstep.history.verdict import Fact, Verdict

COMMIT = "0123456789abcdef0123456789abcdef01234567"
IMAGE = "sha256:" + "1" * 64


def differing() -> Verdict:
    """A rerun whose model and AUC moved on a machine with one more numeric variable set.

    The screenshot in docs/rerunning.md shows this page.
    """
    verdict = Verdict("model/v3", IMAGE, COMMIT, metric_paths={"reports/metrics.json"})
    verdict.outputs += [
        ("ingest", "data/raw/applications.parquet", True),
        ("train", "models/model.pkl", False),
        ("evaluate", "reports/metrics.json", False),
    ]
    verdict.metrics += [
        ("reports/metrics.json:auc", 0.771234, 0.772234, False),
        ("reports/metrics.json:rows", 3000.0, 3000.0, True),
    ]
    verdict.hints += suspects("train", {"params": {"params.yaml": {"train": {"n_jobs": 4}}}})
    verdict.causes += ["env OMP_NUM_THREADS: 4 added", "cpu model: Haswell -> Skylake"]
    fingerprint, lock = (hashlib.sha256(name).hexdigest() for name in (b"fingerprint", b"lock"))
    pools = [{"internal_api": "openblas", "version": "0.3.21", "num_threads": 2}]
    verdict.environment += [
        Fact("image id", IMAGE, IMAGE),
        Fact("image tag", "credit-model:aad28d49876f", None),
        Fact("environment fingerprint", fingerprint, fingerprint),
        Fact("Python", "3.11.2", "3.11.2"),
        Fact("poetry.lock sha256", lock, lock),
        Fact("commit the stages ran at", "9" * 40 + " (with uncommitted changes)", None),
        *facts.machine_facts(
            {"env": {}, "thread_pools": pools, "cpu": {"model": "Haswell", "cpus": 2}},
            {
                "env": {"OMP_NUM_THREADS": "4"},
                "thread_pools": pools,
                "cpu": {"model": "Skylake", "cpus": 2},
            },
        ),
    ]
    return verdict


def identical() -> Verdict:
    verdict = Verdict("model/v3", IMAGE, COMMIT)
    verdict.outputs.append(("train", "models/model.pkl", True))
    verdict.metrics.append(("reports/metrics.json:auc", 0.77, 0.77, True))
    return verdict


@pytest.fixture(scope="module")
def page() -> str:
    return verdict_page.render(differing())


def test_the_same_verdict_gives_the_same_bytes(page: str) -> None:
    assert verdict_page.render(differing()) == page
    assert page.startswith("<!DOCTYPE html>") and "default-src 'none'" in page


def test_the_page_has_no_clock_and_loads_nothing(page: str) -> None:
    assert not re.search(r"\b20\d\d-\d\d-\d\d[T ]\d\d:\d\d", page)
    assert re.findall(r'(?:src|href)="(?!#)[^"]*"', page) == []
    assert "<script" not in page and "<link" not in page


def test_the_headline_says_the_verdict(page: str) -> None:
    assert "<h1>Rerun of model/v3: DIFFERS</h1>" in page
    assert "<h1>Rerun of model/v3: IDENTICAL</h1>" in verdict_page.render(identical())
    error = verdict_page.render(Verdict("v1", IMAGE))
    assert "<h1>Rerun of v1: ERROR</h1>" in error
    assert "<strong>Error:</strong> no output was compared" in error


def test_metrics_within_a_tolerance_are_said_so() -> None:
    verdict = identical()
    verdict.metric_paths.add("reports/metrics.json")
    verdict.outputs.append(("evaluate", "reports/metrics.json", False))
    verdict.metrics[0] = ("reports/metrics.json:auc", 0.77, 0.7701, True)

    page = verdict_page.render(verdict, tolerance=0.001)

    assert "<h1>Rerun of model/v3: within tolerance 0.001</h1>" in page
    assert "bytes differ; its values are compared" in page
    assert "DIFFERS" not in page
    # Values equal to the last bit are identical, whatever the tolerance.
    assert "IDENTICAL</h1>" in verdict_page.render(identical(), tolerance=0.001)


def test_every_output_and_metric_is_shown_recorded_against_rerun(page: str) -> None:
    ingest = "<td>ingest</td><td><code>data/raw/applications.parquet</code></td>"
    assert ingest + "<td>identical</td>" in page
    assert (
        "<td>train</td><td><code>models/model.pkl</code></td><td><strong>DIFFERS</strong></td>"
        in page
    )
    assert (
        '<td><code>reports/metrics.json:auc</code></td><td class="number">0.771234</td>'
        '<td class="number">0.772234</td><td class="number">0.001</td>'
        "<td><strong>DIFFERS</strong></td>"
    ) in page
    assert "<strong>Differs:</strong> models/model.pkl, reports/metrics.json, " in page


def test_the_causes_come_ranked_with_the_hints(page: str) -> None:
    causes = re.search(r'<section id="causes">(.*?)</section>', page, re.S).group(1)
    assert causes.index("env OMP_NUM_THREADS: 4 added") < causes.index("cpu model: Haswell")
    assert "<li>stage train: params.yaml train.n_jobs = 4 (multi-threaded" in causes
    assert 'id="causes"' not in verdict_page.render(identical())


def test_the_environment_is_compared_fact_by_fact(page: str) -> None:
    assert f"<th>image id</th><td><code>{IMAGE}</code></td><td><code>{IMAGE}</code></td>" in page
    assert (
        "<th>env OMP_NUM_THREADS</th><td><code>unset</code></td><td><code>4</code></td>"
        "<td><strong>DIFFERS</strong></td>"
    ) in page
    tag = "<th>image tag</th><td><code>credit-model:aad28d49876f</code></td>"
    assert tag + '<td class="muted">\N{EN DASH}</td><td class="muted">recorded only</td>' in page


def test_values_are_escaped() -> None:
    verdict = differing()
    verdict.causes = ["env X: <script>alert(1)</script> added"]
    page = verdict_page.render(verdict)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_page_is_written_next_to_the_signed_verdict(tmp_path: Path) -> None:
    path = verdict_page.write(tmp_path, differing())
    assert path == tmp_path / "reports/reruns" / f"{COMMIT}.html"
    assert path.read_text() == verdict_page.render(differing())


# In a real browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shown(page: str, browser, tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("rerun") / "rerun.html"
    path.write_text(page)
    with browser.offline(path) as visit:
        yield visit


def test_the_browser_shows_the_verdict_and_every_row(shown) -> None:
    assert shown.page.locator("h1").inner_text() == "Rerun of model/v3: DIFFERS"
    assert shown.page.get_by_role("row", name="models/model.pkl").is_visible()
    assert shown.page.locator("#environment tbody tr").count() == len(differing().environment)


def test_the_browser_reports_no_error_and_no_request(shown, browser) -> None:
    browser.assert_quiet(shown)


def test_the_screenshot_is_not_blank(shown, browser) -> None:
    browser.assert_not_blank(shown)


def test_the_page_fits_a_phones_width(shown, browser) -> None:
    browser.assert_fits(shown)


def test_the_page_says_whether_the_committed_source_ran() -> None:
    verdict = identical()
    line = "source of train: the committed src/ differs from the one that ran (abc): src/a.py"
    verdict.sources.append(line)
    page = verdict_page.render(verdict)
    assert '<section id="source">' in page and line in page
    assert '<section id="source">' not in verdict_page.render(identical())
