"""Shared helpers of the research tests: hand-made 1m bar frames."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import pandas as pd

from pixity.domain import Bar
from pixity.frames import frame_from_bars
from pixity.markettime import IST

KEY = "NSE_EQ|INE002A01018"
OTHER = "NSE_EQ|INE040A01034"
DAY = date(2025, 1, 2)
NEXT_DAY = date(2025, 1, 3)


def minute_bars(
    symbol: str,
    day: date,
    minutes: Sequence[int],
    closes: Sequence[float] | None = None,
    volumes: Sequence[int] | None = None,
) -> list[Bar]:
    """Return closed 1m bars at ``minutes`` after 09:15 of ``day`` (open = high = low = close)."""
    start = datetime(day.year, day.month, day.day, 9, 15, tzinfo=IST)
    closes = closes if closes is not None else [100.0] * len(minutes)
    volumes = volumes if volumes is not None else [100] * len(minutes)
    return [
        Bar(symbol=symbol, ts=start + timedelta(minutes=m), minutes=1, open=c, high=c, low=c,
            close=c, volume=v, tick_count=1, closed=True)
        for m, c, v in zip(minutes, closes, volumes, strict=True)
    ]  # fmt: skip


def frame(*groups: list[Bar]) -> pd.DataFrame:
    """Return the bars of ``groups`` as one lake-column frame."""
    return frame_from_bars([b for group in groups for b in group])
