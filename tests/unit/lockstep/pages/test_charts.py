import re
import subprocess
import sys

import matplotlib
from lockstep.pages import charts
from markupsafe import Markup
from matplotlib import font_manager


def draw(axes):
    axes.plot([0, 1, 2], [0, 1, 4], marker="o", label="line")
    axes.bar([0, 1], [1, 2])
    axes.legend()


def test_a_chart_is_an_svg_element_ready_to_inline():
    svg = charts.svg("demo", draw)
    assert isinstance(svg, Markup)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<path" in svg


def test_the_same_chart_gives_the_same_bytes():
    assert charts.svg("demo", draw) == charts.svg("demo", draw)


def test_the_same_chart_gives_the_same_bytes_in_another_process():
    # Another interpreter, another hash seed: nothing random or process-bound reaches the SVG.
    script = (
        "import sys; from lockstep.pages import charts\n"
        "def draw(axes):\n"
        "    axes.plot([0, 1, 2], [0, 1, 4], marker='o', label='line')\n"
        "    axes.bar([0, 1], [1, 2])\n"
        "    axes.legend()\n"
        "sys.stdout.write(charts.svg('demo', draw))\n"
    )
    other = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PYTHONPATH": ":".join(sys.path)},
    ).stdout
    assert other == charts.svg("demo", draw)


def test_a_chart_has_no_date_and_text_stays_text():
    svg = charts.svg("demo", draw)
    assert "<dc:date>" not in svg
    assert "<text" in svg


def test_every_id_and_reference_carries_the_charts_name():
    svg = charts.svg("demo", draw)
    ids = re.findall(r'\bid="([^"]+)"', svg)
    references = re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', svg)
    assert ids and references
    assert all(i.startswith("demo-") for i in ids)
    assert all(r.startswith("demo-") for pair in references for r in pair if r)
    assert {r for pair in references for r in pair if r} <= set(ids)
    assert not set(ids) & set(re.findall(r'\bid="([^"]+)"', charts.svg("other", draw)))


def test_text_is_laid_out_with_matplotlibs_own_font():
    # A machine's own DejaVu Sans may differ in its metrics; matplotlib prefers the one it ships.
    found = font_manager.findfont(charts.STYLE["font.family"])
    assert found.startswith(matplotlib.get_data_path())
