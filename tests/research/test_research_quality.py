"""The data-quality report: coverage, gaps, outliers and the volume profile."""

from __future__ import annotations

import numpy as np
import pytest
from research_support import DAY, KEY, NEXT_DAY, OTHER, frame, minute_bars

from pixity.errors import InvalidValueError
from pixity.research import quality
from pixity.sample import SampleMarket

ALL = list(range(375))


def test_coverage_counts_the_bars_of_375_and_a_missing_symbol_day_is_zero() -> None:
    bars = frame(
        minute_bars(KEY, DAY, ALL),
        minute_bars(KEY, NEXT_DAY, [m for m in ALL if m not in (0, 10, 11, 374)]),
        minute_bars(OTHER, DAY, ALL[:300]),
    )
    table = quality.session_coverage(bars)
    assert table["bars"].to_dict() == {
        (KEY, DAY): 375, (KEY, NEXT_DAY): 371, (OTHER, DAY): 300, (OTHER, NEXT_DAY): 0,
    }  # fmt: skip
    assert (table["expected"] == 375).all()
    assert table.loc[(OTHER, DAY), "coverage"] == pytest.approx(0.8)


def test_gap_runs_are_the_runs_of_missing_minutes_with_their_start() -> None:
    bars = frame(minute_bars(KEY, DAY, [m for m in ALL if m not in (0, 10, 11, 12, 374)]))
    runs = quality.gap_runs(bars)
    assert runs[["from", "minutes"]].values.tolist() == [["09:15", 1], ["09:25", 3], ["15:29", 1]]
    gaps = quality.gaps(bars)
    assert gaps.loc[(KEY, DAY)].to_dict() == {
        "missing": 5, "runs": 3, "longest": 3, "longest_from": "09:25",
    }  # fmt: skip


def test_a_complete_lake_has_no_gaps() -> None:
    bars = frame(minute_bars(KEY, DAY, ALL))
    assert quality.gap_runs(bars).empty
    assert quality.gaps(bars).empty
    assert list(quality.gaps(bars).columns) == ["missing", "runs", "longest", "longest_from"]


def test_a_jump_is_an_outlier_and_the_overnight_gap_is_not_a_1m_return() -> None:
    rng = np.random.default_rng(3)
    closes = list(100.0 * np.exp(np.cumsum(rng.normal(0, 0.001, 375))))
    closes[200:] = [c * 1.02 for c in closes[200:]]  # a 2 % jump at 12:35
    overnight = [c * 1.10 for c in closes]  # the next day opens 10 % higher
    bars = frame(minute_bars(KEY, DAY, ALL, closes), minute_bars(KEY, NEXT_DAY, ALL, overnight))
    found = quality.outliers(bars, k=8.0)
    assert found["bar_ts"].dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        f"{DAY} 12:35", f"{NEXT_DAY} 12:35",
    ]  # fmt: skip
    assert (found["z"] > 8).all()
    stats = quality.return_stats(bars, k=8.0)
    assert stats.loc[KEY, "returns"] == 2 * 374
    assert stats.loc[KEY, "outliers"] == 2
    assert stats.loc[KEY, "robust_sigma"] == pytest.approx(0.001, rel=0.15)


def test_a_price_that_never_moves_has_no_scores_and_no_outliers() -> None:
    bars = frame(minute_bars(KEY, DAY, ALL))
    assert quality.outliers(bars).empty
    assert quality.return_stats(bars).loc[KEY, "outliers"] == 0
    with pytest.raises(InvalidValueError, match="positive"):
        quality.outliers(bars, k=0)


def test_the_volume_profile_is_each_days_share_and_u_shaped_on_the_sample_market() -> None:
    market = SampleMarket([KEY, OTHER], seed=7)
    bars = market.bars_frame([DAY, NEXT_DAY])
    profile = quality.volume_profile(bars, 15)
    assert list(profile.columns) == [KEY, OTHER, "mean"]
    assert len(profile) == 25 and profile.index[0] == "09:15" and profile.index[-1] == "15:15"
    assert profile[[KEY, OTHER]].sum().to_numpy() == pytest.approx([100.0, 100.0])
    midday = profile["mean"].iloc[8:17].max()
    assert profile["mean"].iloc[0] > 2 * midday and profile["mean"].iloc[-1] > 2 * midday
    assert len(quality.volume_profile(bars, 1)) == 375
    with pytest.raises(InvalidValueError, match="minutes"):
        quality.volume_profile(bars, 0)


def test_a_slot_without_a_bar_counts_as_no_volume() -> None:
    bars = frame(minute_bars(KEY, DAY, [0, 1]), minute_bars(KEY, NEXT_DAY, [0, 20]))
    profile = quality.volume_profile(bars, 15)
    assert profile.loc["09:15", KEY] == pytest.approx(75.0)  # 100 % one day, 50 % the next
    assert profile.loc["09:30", KEY] == pytest.approx(25.0)
    assert profile.loc["09:45", KEY] == 0.0


def test_the_overview_gives_each_symbols_range() -> None:
    bars = frame(minute_bars(KEY, DAY, [0, 5], [101.0, 99.0], [10, 20]))
    row = quality.overview(bars).loc[KEY]
    assert (row["days"], row["bars"], row["low"], row["high"], row["volume"]) == (
        1, 2, 99.0, 101.0, 30,
    )  # fmt: skip
