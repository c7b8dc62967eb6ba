"""Publishing the refresh report: the JSON, the Markdown and the page, side by side."""

from __future__ import annotations

import json

from lockstep.refresh import report

from tests.unit.lockstep.refresh.conftest import fixed_report


def test_the_report_is_written_three_ways_the_same_bytes_twice(tmp_path) -> None:
    found = fixed_report()
    assert report.publish(tmp_path, found) is found
    folder = tmp_path / report.REPORT_DIR
    assert json.loads((folder / "report.json").read_text()) == found.to_dict()
    markdown = (folder / "report.md").read_text()
    assert markdown.startswith("# Model refresh: release recommended")
    assert "- holdout: 2024-07, 2024-08, 2024-09, 2024-10, 2024-11, 2024-12 (12000 rows" in markdown
    assert "| auc | 0.771200 | 0.784300 |" in markdown
    html = (folder / "report.html").read_bytes()
    assert html.startswith(b"<!DOCTYPE html>") and b"<svg" in html

    report.publish(tmp_path, found)
    assert (folder / "report.html").read_bytes() == html
