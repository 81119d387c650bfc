"""Shared helpers of the pixityAI_meta tests: sample-market bars and hand-made bars."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import pandas as pd

from pixity.domain import Bar
from pixity.frames import bars_from_frame, frame_from_bars
from pixity.markettime import IST, nse_calendar
from pixity.strategies.pixity_meta.train_default import sample_bars_15m

KEY = "NSE_EQ|INE155A01022"
OTHER = "NSE_EQ|INE090A01021"
# Out of the default artifact's training range (Jan-Mar 2025); 2025-04-15 is the test day.
FIRST_DAY = date(2025, 4, 1)
TEST_DAY = date(2025, 4, 15)


def history_days(first: date = FIRST_DAY, last: date = TEST_DAY) -> list[date]:
    """Return the NSE trading days from ``first`` to ``last``."""
    return nse_calendar().trading_days(first, last)


@functools.cache
def sample_frame(symbols: tuple[str, ...] = (KEY, OTHER)) -> pd.DataFrame:
    """Return the sample market's 15m bars of ``symbols`` over ``history_days()`` (cached)."""
    return sample_bars_15m(symbols, history_days())


def sample_bars(symbol: str = KEY) -> list[Bar]:
    """Return one symbol's sample 15m bars, oldest first."""
    frame = sample_frame()
    return bars_from_frame(frame[frame["symbol"] == symbol], minutes=15)


def at(day: date, hh: int, mm: int) -> datetime:
    """Return an IST time on ``day``."""
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=IST)


def bar(
    ts: datetime,
    close: float,
    *,
    high: float | None = None,
    low: float | None = None,
    open_: float | None = None,
    volume: int = 1000,
    symbol: str = KEY,
) -> Bar:
    """Return a closed 15m bar; high, low and open default to the close."""
    return Bar(
        symbol=symbol, ts=ts, minutes=15, open=close if open_ is None else open_,
        high=close if high is None else high, low=close if low is None else low, close=close,
        volume=volume, tick_count=10, closed=True,
    )  # fmt: skip


def frame_of(bars: Sequence[Bar]) -> pd.DataFrame:
    """Return bars as a frame with the lake's columns."""
    return frame_from_bars(bars)


def next_slot(ts: datetime, k: int = 1) -> datetime:
    """Return the open time ``k`` 15m bars after ``ts`` (same day)."""
    return ts + timedelta(minutes=15 * k)
