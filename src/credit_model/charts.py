"""The validation report's charts, each drawn on one set of axes from evaluate's plot tables.

The page's titles and captions are in the report's template; here is only what is drawn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

GUESSING = {"color": "#9ca3af", "linestyle": "--", "linewidth": 0.8}


def roc(axes: Axes, table: pd.DataFrame) -> None:
    """True against false positive rate, with the diagonal of guessing."""
    axes.plot([0, 1], [0, 1], **GUESSING, label="guessing")
    axes.plot(table["fpr"], table["tpr"], linewidth=1.8, label="model")
    axes.set(xlim=(0, 1), ylim=(0, 1), aspect="equal")
    axes.set(xlabel="False positive rate", ylabel="True positive rate")
    axes.legend(loc="lower right")


def calibration(axes: Axes, table: pd.DataFrame) -> None:
    """Observed against mean predicted default rate by bin, with the diagonal of perfection."""
    top = 1.05 * max(table["predicted"].max(), table["observed"].max())
    axes.plot([0, top], [0, top], **GUESSING, label="perfect calibration")
    axes.plot(table["predicted"], table["observed"], marker="o", markersize=4, label="model")
    axes.set(xlim=(0, top), ylim=(0, top))
    axes.set(xlabel="Mean predicted default rate", ylabel="Observed default rate")
    for axis in (axes.xaxis, axes.yaxis):
        axis.set_major_formatter(PercentFormatter(1.0))
    axes.legend(loc="upper left")


def score_bands(axes: Axes, table: pd.DataFrame) -> None:
    """Share of goods and of defaulters in each score band, side by side."""
    starts = table["score"].to_numpy()
    width = float(np.diff(starts).min()) if len(starts) > 1 else 1.0
    centres = starts + width / 2
    axes.bar(centres - width / 5, table["goods"], width=0.4 * width, label="goods")
    axes.bar(centres + width / 5, table["defaulters"], width=0.4 * width, label="defaulters")
    axes.set(xlabel="Score band (higher is safer)", ylabel="Share of the class")
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.legend(loc="upper left")


def months(axes: Axes, table: pd.DataFrame) -> None:
    """Observed and mean predicted default rate in each month of the test set."""
    axes.plot(table["month"], table["observed"], marker="o", markersize=4, label="observed")
    axes.plot(table["month"], table["predicted"], marker="s", markersize=4, label="predicted")
    axes.set(xlabel="Application month", ylabel="Default rate", ylim=(0, None))
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.legend(loc="lower right")


DRAW = {"roc": roc, "calibration": calibration, "scores": score_bands, "months": months}
