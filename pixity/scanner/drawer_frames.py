"""The drawer of one row: its recent signals, the day's fills and 15m candles with marks."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from pixity.bars import resample
from pixity.domain import Bar
from pixity.markettime import bar_end, format_ts
from pixity.scanner.columns import CANDLES, FILLS, MARKS, SIGNALS, build_frame
from pixity.stores.sqlite import Row

CANDLE_MINUTES = 15


def empty_frames() -> dict[str, pd.DataFrame]:
    """Return the drawer's frames with no rows."""
    return {
        "signals": build_frame(SIGNALS),
        "fills": build_frame(FILLS),
        "candles": build_frame(CANDLES),
        "marks": build_frame(MARKS),
    }


def rows_frame(spec: dict[str, object], rows: Sequence[Row]) -> pd.DataFrame:
    """Return ``rows`` (in ``spec``'s column order) as a frame of ``spec``."""
    names = list(spec)
    return build_frame(spec, {name: [row[i] for row in rows] for i, name in enumerate(names)})


def candles(bars: Sequence[Bar], minutes: int = CANDLE_MINUTES) -> list[Bar]:
    """Return closed 1m ``bars`` resampled to ``minutes``, anchored at 09:15."""
    return resample(bars, minutes)


def candles_frame(day_bars: Sequence[Bar], built: Sequence[Bar]) -> pd.DataFrame:
    """Return ``built`` candles as a frame; ``complete`` once the 1m bars reach a candle's end."""
    reached = max((bar_end(b.ts, b.minutes) for b in day_bars), default=None)
    cols: dict[str, list[object]] = {name: [] for name in CANDLES}
    for c in built:
        values = (format_ts(c.ts), c.open, c.high, c.low, c.close, c.volume, c.tick_count)
        for name, value in zip(CANDLES, values, strict=False):  # "complete" follows
            cols[name].append(value)
        cols["complete"].append(reached is not None and bar_end(c.ts, c.minutes) <= reached)
    return build_frame(CANDLES, cols)


def marks_frame(signal_rows: Sequence[Row], built: Sequence[Bar]) -> pd.DataFrame:
    """Return the day's signals to mark on the candles: bar_ts, type, confidence, status, price.

    ``signal_rows`` are ``queries.day_signals`` rows; ``price`` is the close of the candle
    the signal was computed on (NaN if that candle is not drawn).
    """
    closes = {format_ts(c.ts): c.close for c in built}
    cols: dict[str, list[object]] = {name: [] for name in MARKS}
    for _id, signal_type, confidence, bar_ts, status, *_rest in signal_rows:
        cols["bar_ts"].append(bar_ts)
        cols["signal_type"].append(signal_type)
        cols["confidence"].append(confidence)
        cols["status"].append(status)
        cols["price"].append(closes.get(bar_ts, math.nan))
    return build_frame(MARKS, cols)
