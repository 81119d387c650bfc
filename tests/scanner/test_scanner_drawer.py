"""The drawer: recent signals, the day's fills, 15m candles and the signals to mark on them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from scanner_support import OTHER, STRATEGY, SYM, SYM3, T0, clock, sym_bars, write_all

from pixity.frames import frame_from_bars
from pixity.scanner import CANDLES, FILLS, MARKS, SIGNALS, ScannerView, drawer


def ts(minute: int) -> pd.Timestamp:
    return pd.Timestamp(T0 + timedelta(minutes=minute))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    write_all(tmp_path)
    return tmp_path


def pandas_15m(frame: pd.DataFrame) -> pd.DataFrame:
    """Resample 1m bars with pandas, 15 minutes anchored at 09:15 and labelled by open."""
    by_time = frame.set_index("bar_ts")
    out = by_time.resample("15min", origin=pd.Timestamp(T0), label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum",
         "tick_count": "sum"}
    )  # fmt: skip
    return out.dropna(subset=["open"]).astype({"volume": "int64", "tick_count": "int64"})


def test_candles_equal_pandas_resample_of_the_closed_1m_bars(data: Path) -> None:
    result = drawer(data, SYM, STRATEGY, clock=clock())
    assert result.errors == {}
    candles = result["candles"]
    assert list(candles.columns) == list(CANDLES)
    closed = [b for b in sym_bars() if b.closed]  # the forming 09:56 bar is not drawn
    expected = pandas_15m(frame_from_bars(closed))
    got = candles.set_index("bar_ts")[list(expected.columns)]
    pd.testing.assert_frame_equal(got, expected, check_freq=False, check_names=False)
    assert list(candles["bar_ts"]) == [ts(0), ts(15), ts(30)]
    # 09:45's window ends at 10:00; the closed 1m bars reach 09:56 only.
    assert list(candles["complete"]) == [True, True, False]


def test_recent_signals_newest_bar_first_and_marks_of_the_day(data: Path) -> None:
    result = drawer(data, SYM, STRATEGY, clock=clock())
    signals, marks = result["signals"], result["marks"]
    assert list(signals.columns) == list(SIGNALS) and list(marks.columns) == list(MARKS)
    assert list(signals["signal_type"]) == ["EXIT", "SELL", "BUY", "BUY"]
    assert list(signals["bar_ts"])[:3] == [ts(30), ts(15), ts(0)]
    assert signals["bar_ts"].iloc[3].date().isoformat() == "2025-05-30"  # an older day, last
    # Only the day's signals are marked, oldest first, at the close of their candle.
    assert list(marks["bar_ts"]) == [ts(0), ts(15), ts(30)]
    assert list(marks["signal_type"]) == ["BUY", "SELL", "EXIT"]
    assert list(marks["confidence"]) == [0.61, 0.83, 0.52]
    assert list(marks["price"]) == list(result["candles"]["close"])


def test_fills_of_the_symbol_newest_first(data: Path) -> None:
    fills = drawer(data, SYM, STRATEGY, clock=clock())["fills"]
    assert list(fills.columns) == list(FILLS)
    assert list(fills["fill_id"]) == ["f-2", "f-1"]
    assert list(fills["strategy_id"]) == [OTHER, STRATEGY]
    assert list(fills["price"]) == [102.0, 101.0]
    assert fills["ts"].iloc[1] == ts(1) + pd.Timedelta(seconds=2)


def test_a_row_with_nothing_yet_has_empty_frames_with_their_columns(data: Path) -> None:
    with ScannerView(data, clock=clock()) as view:
        result = view.drawer(SYM3, STRATEGY)
    assert result.errors == {}
    for name, spec in (("signals", SIGNALS), ("fills", FILLS), ("candles", CANDLES), ("marks", MARKS)):  # fmt: skip
        frame = result[name]
        assert frame.empty and list(frame.columns) == list(spec)
    assert result.values["session_date"] == "2025-06-02"
