"""Publishing the refresh report: the JSON, the Markdown and the page, side by side."""

from __future__ import annotations

import json

from lockstep.refresh import report

from tests.unit.lockstep.refresh.conftest import fixed_report


def test_the_report_is_written_three_ways_the_same_bytes_twice(tmp_path) -> None:
    result, gains = fixed_report()
    published = report.publish(tmp_path, result, report.RELEASE_CODE, gains)
    folder = tmp_path / report.REPORT_DIR
    assert json.loads((folder / "report.json").read_text()) == published
    assert published["exit_code"] == report.RELEASE_CODE
    assert (folder / "report.md").read_text().startswith("# Model refresh: release recommended")
    html = (folder / "report.html").read_bytes()
    assert html.startswith(b"<!DOCTYPE html>") and b"<svg" in html

    report.publish(tmp_path, result, report.RELEASE_CODE, gains)
    assert (folder / "report.html").read_bytes() == html
