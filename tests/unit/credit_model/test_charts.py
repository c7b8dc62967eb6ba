"""The report's charts, drawn on real matplotlib axes from tables shaped like evaluate's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from credit_model import charts
from credit_model.stages import evaluate


@pytest.fixture
def axes():
    return Figure().add_subplot()


def test_roc_draws_the_curve_over_the_diagonal(axes):
    grid = np.linspace(0, 1, 5)
    charts.roc(axes, pd.DataFrame({"fpr": grid, "tpr": np.sqrt(grid)}))
    guessing, model = axes.get_lines()
    assert list(guessing.get_ydata()) == [0, 1]
    np.testing.assert_allclose(model.get_ydata(), np.sqrt(grid))
    assert axes.get_xlim() == (0, 1) and axes.get_ylim() == (0, 1)


def test_calibration_shows_every_bin_within_the_axes(axes):
    table = pd.DataFrame({"predicted": [0.02, 0.1, 0.3], "observed": [0.01, 0.12, 0.28]})
    charts.calibration(axes, table)
    _, model = axes.get_lines()
    assert list(model.get_xdata()) == [0.02, 0.1, 0.3]
    assert axes.get_xlim()[1] >= 0.3 and axes.get_ylim()[1] >= 0.3


def test_score_bands_draw_two_bars_per_band(axes):
    table = pd.DataFrame(
        {"score": [500.0, 520.0, 540.0], "goods": [0.2, 0.3, 0.5], "defaulters": [0.6, 0.3, 0.1]}
    )
    charts.score_bands(axes, table)
    goods, defaulters = axes.containers
    assert [bar.get_height() for bar in defaulters] == [0.6, 0.3, 0.1]
    assert all(g.get_x() < d.get_x() for g, d in zip(goods, defaulters, strict=True))


def test_months_label_each_month(axes):
    table = pd.DataFrame(
        {"month": ["2024-01", "2024-02"], "observed": [0.08, 0.1], "predicted": [0.08, 0.09]}
    )
    charts.months(axes, table)
    axes.figure.canvas.draw()
    assert [label.get_text() for label in axes.get_xticklabels()] == ["2024-01", "2024-02"]
    assert len(axes.get_lines()) == 2


def test_every_plot_table_evaluate_writes_has_a_chart(model, split, evaluate_settings):
    _, plots = evaluate.run(model, split[1], evaluate_settings)
    assert set(charts.DRAW) == set(plots)
