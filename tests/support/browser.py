"""A real browser for the tests of HTML pages: Debian's Chromium, headless, driven by Playwright.

Playwright never downloads a browser here: it launches the system's Chromium. A page is opened
from disk with every request that is not for a `file:` URL refused, and whatever the browser
reports (console errors, uncaught exceptions, refused requests) is kept for the test to check.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, Route, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")


def require_chromium() -> None:
    """Fail (in CI, whose .ci/run installs it) or skip (elsewhere) a test that needs Chromium."""
    if not CHROMIUM.exists():
        reason = f"no Chromium at {CHROMIUM}: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@dataclass
class Visit:
    """A page open in the browser, and what the browser said while loading it."""

    page: Page
    errors: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


@contextmanager
def offline(path: Path, width: int = 1280) -> Iterator[Visit]:
    """Open the file at `path` in headless Chromium, refusing every request not for a file."""
    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            visit = Visit(page)

            def route(request: Route) -> None:
                if request.request.url.startswith("file:"):
                    request.continue_()
                else:
                    visit.refused.append(request.request.url)
                    request.abort()

            page.route("**/*", route)
            page.on("console", lambda m: visit.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: visit.errors.append(str(exc)))
            page.goto(path.resolve().as_uri(), wait_until="load")
            yield visit
        finally:
            browser.close()


# What every page's test checks: one function each, so the pages are held to the same bar.


def assert_charts_drawn(visit: Visit, at_least: int) -> None:
    """At least `at_least` SVG charts, each with something drawn and a readable size."""
    svgs = visit.page.locator("svg")
    assert svgs.count() >= at_least, f"{svgs.count()} charts, expected at least {at_least}"
    for index in range(svgs.count()):
        chart = svgs.nth(index)
        assert chart.locator("path").count() > 0, f"chart {index} has nothing drawn"
        box = chart.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100, f"chart {index}: {box}"


def assert_quiet(visit: Visit) -> None:
    """No console error, no uncaught exception, no request for anything outside the file."""
    assert visit.errors == []
    assert visit.refused == []


def assert_not_blank(visit: Visit) -> bytes:
    """A full-page screenshot with more than a handful of colours; returns the PNG."""
    png = visit.page.screenshot(full_page=True)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=image.width * image.height)
    assert len(colours) > 50, f"{len(colours)} distinct colours: the page looks blank"
    return png


def assert_fits(visit: Visit, width: int = 400) -> None:
    """Nothing scrolls sideways at a phone's width."""
    visit.page.set_viewport_size({"width": width, "height": 800})
    try:
        assert visit.page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        visit.page.set_viewport_size({"width": 1280, "height": 900})
