"""The refresh report's page: its content, its bytes, and how a browser shows it."""

from __future__ import annotations

import dataclasses
import re

import pytest
from lockstep.refresh import page

from tests.unit.lockstep.refresh.conftest import fixed_report, no_new_data


@pytest.fixture(scope="module")
def html() -> str:
    return page.render(fixed_report())


def test_the_same_inputs_give_the_same_bytes(html: str) -> None:
    assert page.render(fixed_report()) == html


def test_the_decision_and_why_are_the_headline(html: str) -> None:
    assert "<h1>Model refresh: release recommended</h1>" in html
    header = html[html.index("<header>") : html.index("</header>")]
    assert fixed_report().reason in header


def test_both_models_are_named_with_their_metrics_on_the_same_holdout(html: str) -> None:
    assert "tag <code>model/v3</code>" in html and "4f2a" * 10 in html
    assert "DVC experiment <code>challenger-2024-12</code>" in html
    assert html.count("sha256:" + "c" * 64) == 2
    assert "2024-07 to 2024-12 (6 months), 12,000 rows, 1,104 events" in html
    auc = re.search(r"<tr><th>auc \(primary\)</th>(.*?)</tr>", html).group(1)
    assert ">0.7712<" in auc and ">0.7843<" in auc and ">+0.0131<" in auc and ">higher<" in auc
    # Lower is better for the Brier score: the challenger's smaller one is a positive gain.
    brier = re.search(r"<tr><th>brier</th>(.*?)</tr>", html).group(1)
    assert ">+0.0007<" in brier and ">lower<" in brier


def test_the_gains_are_one_histogram_with_the_interval_and_zero_marked(html: str) -> None:
    compared = fixed_report().comparison
    assert html.count("<svg") == 1
    chart = html[html.index("<svg") : html.index("</svg>")]
    assert "90% interval" in chart and "no gain" in chart and "gain on the holdout" in chart
    low, high = compared.interval
    assert f"[{low:+.4f}, {high:+.4f}]" in html
    assert f"each of {len(compared.gains):,} bootstrap resamples" in html


def test_the_rule_is_told_in_words(html: str) -> None:
    rule = html[html.index('<section id="rule">') :]
    assert "1,000 resamples" in rule and "seed 42" in rule
    assert "minimum gain, +0.0000" in rule and "release recommended" in rule
    assert "exited with 3" in html


def test_a_refresh_without_new_data_is_a_page_without_comparison() -> None:
    found = no_new_data("ingest.as_of")
    html = page.render(found)
    assert "<h1>Model refresh: no action</h1>" in html and "no new data" in html
    assert "<svg" not in html and "<table" not in html and "exited with 0" in html


def test_a_promotion_is_shown() -> None:
    html = page.render(dataclasses.replace(fixed_report(), promoted="model/v4"))
    assert "promoted to champion <code>model/v4</code>" in html


def test_values_are_escaped() -> None:
    found = fixed_report()
    challenger = dataclasses.replace(found.challenger, experiment="<script>x</script>")
    html = page.render(dataclasses.replace(found, challenger=challenger))
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html


def test_the_page_loads_nothing_and_has_no_timestamp(html: str) -> None:
    assert re.findall(r'(?:src|href)="(?!#)[^"]*"', html) == []
    assert "<script" not in html and "<link" not in html
    assert "<dc:date>" not in html
    assert not re.search(r"\b20\d\d-\d\d-\d\d[T ]\d\d:\d\d", html)


# In a real browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shown(browser, html: str, tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("refresh") / "report.html"
    path.write_text(html)
    with browser.offline(path) as visit:
        yield visit


def test_the_browser_draws_the_histogram(browser, shown) -> None:
    browser.assert_charts_drawn(shown, 1)


def test_the_browser_reports_no_error_and_no_request(browser, shown) -> None:
    browser.assert_quiet(shown)


def test_the_screenshot_is_not_blank(browser, shown) -> None:
    browser.assert_not_blank(shown)


def test_the_page_fits_a_phones_width(browser, shown) -> None:
    browser.assert_fits(shown)
