"""The README's screenshot of the refresh page, taken again.

    .venv/bin/python -m tests.support.screenshots

The page is rendered from the unit tests' fixed report, and the PNG is written only when the
page passes the checks every page's test holds it to (chart drawn, quiet, not blank, fits a
phone): the README never shows a page the tests would fail. 1000 pixels wide and reduced to 256
colours, it stays small in the repository.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from lockstep.refresh import page
from PIL import Image

from tests.support import browser
from tests.unit.lockstep.refresh.conftest import fixed_report

TARGET = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "refresh.png"
WIDTH = 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.html"
        path.write_text(page.render(*fixed_report()))
        with browser.offline(path, WIDTH) as visit:
            png = browser.assert_not_blank(visit)  # at WIDTH: assert_fits changes the viewport
            browser.assert_charts_drawn(visit, 1)
            browser.assert_quiet(visit)
            browser.assert_fits(visit)
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(256)
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    image.save(TARGET, optimize=True)
    print(f"{TARGET.relative_to(TARGET.parents[2])}: {TARGET.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
