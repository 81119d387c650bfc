"""The research figures: drawn from the frames, returned closed (shown once, as a result)."""

from __future__ import annotations

from datetime import date

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from research_support import DAY, KEY, NEXT_DAY, OTHER, frame, minute_bars

from pixity.errors import InvalidValueError
from pixity.markettime import IST
from pixity.research import plots, quality

ALL = list(range(375))


@pytest.fixture
def bars() -> pd.DataFrame:
    closes = [100.0 + m / 100 for m in ALL]
    return frame(
        minute_bars(KEY, DAY, ALL, closes),
        minute_bars(KEY, NEXT_DAY, ALL, closes),
        minute_bars(OTHER, DAY, ALL[:100]),
    )


def test_day_close_defaults_to_the_first_symbols_last_day(bars: pd.DataFrame) -> None:
    fig = plots.day_close(bars)
    assert plt.get_fignums() == []
    top, _volume = fig.axes
    assert KEY in top.get_title() and str(NEXT_DAY) in top.get_title()
    assert len(top.lines[0].get_xdata()) == 375
    fig = plots.day_close(bars, OTHER, "2025-01-02")
    assert len(fig.axes[0].lines[0].get_xdata()) == 100
    with pytest.raises(InvalidValueError, match="no bars"):
        plots.day_close(bars, OTHER, date(2025, 1, 3))


def test_the_volume_profile_has_a_line_per_column(bars: pd.DataFrame) -> None:
    fig = plots.volume_profile(quality.volume_profile(bars, 15))
    assert [line.get_label() for line in fig.axes[0].lines] == [KEY, OTHER, "mean"]
    assert plt.get_fignums() == []


def test_reliability_and_equity_figures() -> None:
    table = pd.DataFrame({"mean_predicted": [0.1, 0.3], "observed": [0.2, 0.25], "n": [5, 5]})
    fig = plots.reliability(table)
    assert len(fig.axes[0].lines) == 2
    ts = pd.to_datetime(["2025-04-01 09:30", "2025-04-01 09:30", "2025-04-02 09:30"])
    curve = pd.DataFrame({"ts": ts.tz_localize(IST), "equity": [0.0, 1.0, -2.0]})
    fig = plots.equity_curves({"a": curve, "b": curve})
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines[:2]] == ["a", "b"]
    assert list(ax.lines[0].get_ydata()) == [1.0, -2.0]  # the last value of each 15m step
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2025-04-01", "2025-04-02"]
    assert plt.get_fignums() == []
