"""Charts as inline SVG, drawn by matplotlib, the same bytes for the same data.

matplotlib salts the ids it gives clip paths and markers with a random value unless
`svg.hashsalt` is set, and stamps the date unless told not to: both are fixed here. It numbers
its groups per figure (`axes_1`, ...), so every id and reference to one is prefixed with the
chart's name: two charts inline in one page never share an id. Text stays text
(`svg.fonttype = none`): smaller pages, selectable labels; the layout is computed with the
DejaVu Sans matplotlib ships, which it prefers to a machine's own copy.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import matplotlib
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.figure import Figure

# Colours of the page's palette, in the order lines and bars take them.
PALETTE = ("#1f5fa8", "#c2410c", "#4d7c0f", "#6b7280")
STYLE = {
    "svg.hashsalt": "lockstep",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.axisbelow": True,
    "figure.facecolor": "none",
    "axes.grid": True,
    "grid.color": "#e5e7eb",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
}
# Where matplotlib's SVG names an element or refers to one: `id="x"`, `url(#x)`, `href="#x"`.
_ID = re.compile(r'(\bid="|url\(#|href="#)')
# Inches at matplotlib's 72 points per inch: about 540 x 340 CSS pixels, scaled by the page.
SIZE = (5.6, 3.5)


def svg(name: str, draw: Callable[[Axes], None], size: tuple[float, float] = SIZE) -> Markup:
    """The chart `draw` makes on one set of axes, as an `<svg>` element to put in a page.

    `name` tells the page's charts apart: it prefixes the element ids matplotlib writes.
    """
    buffer = io.StringIO()
    with matplotlib.rc_context(STYLE):
        # A Figure of its own, not pyplot's: no global state, no GUI backend.
        figure = Figure(figsize=size, layout="constrained")
        draw(figure.add_subplot())
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    # The XML declaration and DOCTYPE belong to a standalone file, not to an element in HTML.
    return Markup(_ID.sub(rf"\g<1>{name}-", text[text.index("<svg") :]))
