"""The refresh report as a page: champion against challenger, the gain's bootstrap distribution.

`reports/refresh/report.html`, next to report.json and report.md, on the kit's page skeleton:
the decision and why first, then both models' metrics on the same holdout, the histogram of
the resampled gains with the interval and zero marked, and the decision rule in words.
"""

from __future__ import annotations

import functools

from lockstep.pages import charts, document
from lockstep.refresh.decision import METRICS, Comparison
from lockstep.refresh.result import Refresh
from matplotlib.axes import Axes

# Enough bars to show the distribution's shape from a few hundred resamples or more.
BINS = 40
# Wider than the kit's default: the page's one chart, alone on its row.
SIZE = (9.0, 3.2)
NO_GAIN = {"color": "#6b7280", "linewidth": 1.0}
BOUND = {"color": charts.PALETTE[1], "linestyle": "--", "linewidth": 1.2}
OBSERVED = {"color": charts.PALETTE[2], "linewidth": 1.6}


def histogram(axes: Axes, compared: Comparison) -> None:
    """The resampled gains, with zero, the interval's bounds and the holdout's gain marked."""
    low, high = compared.interval
    axes.hist(compared.gains, bins=BINS, color=charts.PALETTE[0], alpha=0.75)
    axes.axvline(0.0, **NO_GAIN, label="no gain")
    axes.axvline(low, **BOUND, label=f"{compared.confidence:.0%} interval")
    axes.axvline(high, **BOUND)
    axes.axvline(compared.gain, **OBSERVED, label="gain on the holdout")
    metric = compared.primary_metric
    axes.set(xlabel=f"Gain in {metric} (positive: the challenger is better)", ylabel="Resamples")
    axes.legend()


def metric_rows(compared: Comparison) -> list[dict]:
    """Each metric for both models, and the challenger's gain in it (positive: better)."""
    champion, challenger = compared.champion_metrics, compared.challenger_metrics
    rows = []
    for name in champion:
        higher, gain = METRICS[name][1], challenger[name] - champion[name]
        rows.append(
            {
                "name": name,
                "higher": higher,
                "champion": champion[name],
                "challenger": challenger[name],
                "gain": gain if higher else -gain,
            }
        )
    return rows


def render(found: Refresh) -> str:
    """The page. A refresh that compared nothing (no new data) has no comparison and no chart."""
    compared = found.comparison
    context = {"report": found, "compared": compared, "metrics": [], "chart": None}
    if compared:
        draw = functools.partial(histogram, compared=compared)
        context.update(metrics=metric_rows(compared), chart=charts.svg("gains", draw, SIZE))
    return document.render(document.SKELETON, "refresh.html.j2", **context)
