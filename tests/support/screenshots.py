"""The docs' screenshots of the three pages (docs/screenshots/), taken again.

    .venv/bin/python -m tests.support.screenshots

The validation report is the committed `reports/report.html`, the pipeline's own output; the
refresh and rerun pages are rendered from the unit tests' fixed inputs (a refresh that
recommends nothing, a rerun that DIFFERS with two likely causes). Each PNG is written only when
its page passes the checks every page's test holds it to (charts drawn, quiet, not blank, fits a
phone): the docs never show a page the tests would fail. 1000 pixels wide and reduced to 256
colours, they stay small in the repository.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from pathlib import Path

from lockstep.history import verdict_page
from lockstep.refresh import page as refresh_page
from PIL import Image

from tests.support import browser
from tests.unit.lockstep.history.test_verdict_page import differing
from tests.unit.lockstep.refresh.conftest import fixed_report

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "docs" / "screenshots"
WIDTH = 1000
# Each page: how to get its HTML, and how many charts it must show.
PAGES: dict[str, tuple[Callable[[], str], int]] = {
    "report": (lambda: (ROOT / "reports" / "report.html").read_text(), 4),
    "refresh": (lambda: refresh_page.render(fixed_report()), 1),
    "rerun": (lambda: verdict_page.render(differing()), 0),
}


def take(name: str, html: str, charts: int) -> Path:
    """Screenshot one page, once it passes the browser checks; the PNG's path."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.html"
        path.write_text(html)
        with browser.offline(path, WIDTH) as visit:
            png = browser.assert_not_blank(visit)  # at WIDTH: assert_fits changes the viewport
            browser.assert_charts_drawn(visit, charts)
            browser.assert_quiet(visit)
            browser.assert_fits(visit)
    target = FOLDER / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.open(io.BytesIO(png)).convert("RGB").quantize(256).save(target, optimize=True)
    return target


def main() -> None:
    for name, (html, charts) in PAGES.items():
        target = take(name, html(), charts)
        print(f"{target.relative_to(ROOT)}: {target.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
