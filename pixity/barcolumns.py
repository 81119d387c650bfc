"""One session day's 1m bars of many symbols as NumPy columns, and their N-minute resample.

A backtest reads a year of 1m bars; a ``Bar`` object per row would cost more than everything
else it does. ``DayBars`` keeps a day's rows as columns sorted by (symbol, minute), the minute
counted from 09:15 IST, and ``resample_day`` makes the N-minute ``Bar`` objects from them with
NumPy: the same bars as ``pixity.bars.resample`` of the same 1m bars (a test checks it).

``day_bars`` builds one only from rows a ``Bar`` would accept that lie on the day's session
minutes, one per (symbol, minute); for anything else it returns None and the caller takes the
general path (``Bar`` objects), which accepts or refuses exactly as it always did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from pixity.domain import Bar, check_symbol, checked_bar
from pixity.errors import InvalidValueError
from pixity.markettime import SESSION_MINUTES, session_open

_US_PER_MINUTE = 60_000_000


@dataclass(frozen=True, slots=True, eq=False)
class DayBars:
    """``day``'s closed 1m bars: rows ``bounds[i]:bounds[i + 1]`` are ``symbols[i]``'s.

    ``symbols`` are sorted (as ``str`` sorts) and each has at least one row; within a symbol
    the rows are in time order. ``minute`` is minutes since 09:15 IST (0 .. 374).
    """

    day: date
    symbols: tuple[str, ...]
    bounds: np.ndarray  # int64, len(symbols) + 1
    minute: np.ndarray  # int64
    open: np.ndarray  # float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # int64
    tick_count: np.ndarray  # int64

    @property
    def rows(self) -> int:
        """Return the number of 1m bars."""
        return len(self.minute)

    def symbol_index(self) -> np.ndarray:
        """Return, per row, the index of its symbol in ``symbols``."""
        return np.repeat(np.arange(len(self.symbols)), np.diff(self.bounds))

    def to_bars(self) -> list[Bar]:
        """Return the rows as closed 1m ``Bar`` objects, by (symbol, time)."""
        starts = minute_starts(self.day)
        out = []
        for i, symbol in enumerate(self.symbols):
            lo, hi = int(self.bounds[i]), int(self.bounds[i + 1])
            columns = (self.minute, self.open, self.high, self.low, self.close, self.volume, self.tick_count)  # fmt: skip
            for m, o, h, lo_, c, v, n in zip(
                *(col[lo:hi].tolist() for col in columns), strict=True
            ):
                out.append(Bar(symbol=symbol, ts=starts[m], minutes=1, open=o, high=h, low=lo_,
                               close=c, volume=v, tick_count=n, closed=True))  # fmt: skip
        return out


def minute_starts(day: date) -> list[datetime]:
    """Return the open time of every 1m bar of ``day``'s session, 09:15 ... 15:29 IST."""
    anchor = session_open(day)
    return [anchor + timedelta(minutes=m) for m in range(SESSION_MINUTES)]


def day_bars(
    day: date,
    symbols: Sequence[str],
    counts: Sequence[int],
    ts_us: np.ndarray,
    prices: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    volume: np.ndarray,
    tick_count: np.ndarray,
) -> DayBars | None:
    """Return the rows as ``DayBars`` if the fast path may take them, else None.

    The rows come grouped by symbol (``counts[i]`` rows of ``symbols[i]``, in any symbol
    order); ``ts_us`` is each bar's open time in epoch microseconds. None when a row is not a
    valid closed 1m bar on one of ``day``'s session minutes, or a symbol's rows are not in
    strictly increasing time order.
    """
    open_, high, low, close = (np.ascontiguousarray(p, dtype=np.float64) for p in prices)
    ts_us = np.asarray(ts_us, dtype=np.int64)
    volume = np.asarray(volume, dtype=np.int64)
    tick_count = np.asarray(tick_count, dtype=np.int64)
    anchor_us = int(session_open(day).timestamp()) * 1_000_000
    minute, off_minute = np.divmod(ts_us - anchor_us, _US_PER_MINUTE)
    bounds = np.zeros(len(symbols) + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    if len(ts_us) and not _valid(minute, off_minute, bounds, open_, high, low, close, volume, tick_count):  # fmt: skip
        return None
    try:
        for symbol in symbols:
            check_symbol(symbol)
    except ValueError:
        return None
    order = sorted(range(len(symbols)), key=lambda i: symbols[i])
    keep = [i for i in order if counts[i]]
    if keep != list(range(len(symbols))):
        rows = np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in keep] or [np.zeros(0, np.int64)])  # fmt: skip
        minute, open_, high, low, close, volume, tick_count = (
            col[rows] for col in (minute, open_, high, low, close, volume, tick_count)
        )
        bounds = np.zeros(len(keep) + 1, dtype=np.int64)
        np.cumsum([counts[i] for i in keep], out=bounds[1:])
    return DayBars(
        day=day, symbols=tuple(symbols[i] for i in keep), bounds=bounds, minute=minute,
        open=open_, high=high, low=low, close=close, volume=volume, tick_count=tick_count,
    )  # fmt: skip


def _valid(
    minute: np.ndarray,
    off_minute: np.ndarray,
    bounds: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    tick_count: np.ndarray,
) -> bool:
    """Tell whether every row is what ``Bar`` accepts, on a session minute, in time order."""
    if off_minute.any() or minute.min() < 0 or minute.max() >= SESSION_MINUTES:
        return False
    # A NaN fails every comparison, so it fails these too.
    with np.errstate(invalid="ignore"):
        prices_ok = (low > 0) & (low <= open_) & (open_ <= high) & (low <= close) & (close <= high)
    if not (prices_ok.all() and np.isfinite(high).all()):
        return False
    if (volume < 0).any() or (tick_count < 0).any():
        return False
    step = np.diff(minute)
    first = np.zeros(len(minute), dtype=bool)
    first[bounds[:-1][bounds[:-1] < len(minute)]] = True  # a symbol's first row may go back
    return bool((step > 0)[~first[1:]].all())


@dataclass(frozen=True, slots=True, eq=False)
class Resampled:
    """The N-minute bars of a ``DayBars``, by (symbol, time), with where each came from.

    ``symbol[g]`` indexes ``DayBars.symbols``; ``window[g]`` counts windows from 09:15;
    ``first[g]``, ``last[g]`` are the minutes of the window's first and last 1m bar.
    """

    minutes: int
    bars: list[Bar]
    symbol: np.ndarray
    window: np.ndarray
    first: np.ndarray
    last: np.ndarray

    def in_time_order(self) -> list[Bar]:
        """Return the bars by (time, symbol), as a live session's warm-up feeds them."""
        order = np.lexsort((self.symbol, self.window))
        bars = self.bars
        return [bars[g] for g in order.tolist()]


def resample_day(bars: DayBars, minutes: int, *, before: int = SESSION_MINUTES) -> Resampled:
    """Resample the 1m bars opening before minute ``before`` into ``minutes``-long bars.

    Windows are anchored at 09:15 (the day's last one is cut at 15:30), as in
    ``pixity.bars.resample``: open of the first bar, close of the last, extreme high and
    low, summed volume and tick count.
    """
    if minutes.__class__ is not int or minutes < 1:  # the bars are made unchecked (below)
        raise InvalidValueError(f"bar length {minutes!r} minutes must be an int >= 1")
    rows = np.flatnonzero(bars.minute < before) if before < SESSION_MINUTES else None
    sym = bars.symbol_index()
    minute, o, h, lo, c, v, n = (bars.minute, bars.open, bars.high, bars.low, bars.close, bars.volume, bars.tick_count)  # fmt: skip
    if rows is not None:
        sym, minute, o, h, lo, c, v, n = (col[rows] for col in (sym, minute, o, h, lo, c, v, n))
    if not len(minute):
        empty = np.zeros(0, dtype=np.int64)
        return Resampled(
            minutes=minutes, bars=[], symbol=empty, window=empty, first=empty, last=empty
        )
    window = minute // minutes
    key = sym * (SESSION_MINUTES + 1) + window
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    ends = np.append(starts[1:], len(key)) - 1
    g_sym, g_win = sym[starts], window[starts]
    values = (
        o[starts], np.maximum.reduceat(h, starts), np.minimum.reduceat(lo, starts), c[ends],
        np.add.reduceat(v, starts), np.add.reduceat(n, starts),
    )  # fmt: skip
    anchor = session_open(bars.day)
    opens = {w: anchor + timedelta(minutes=w * minutes) for w in set(g_win.tolist())}
    names = bars.symbols
    # The columns were validated as Bar validates (day_bars): the windows' open, extremes,
    # close and sums of them are too, so the bars are made without checking again.
    out = [
        checked_bar((names[s], opens[w], minutes, op, hi, low_, cl, vol, ticks, True))
        for s, w, op, hi, low_, cl, vol, ticks in zip(
            g_sym.tolist(), g_win.tolist(), *(col.tolist() for col in values), strict=True
        )
    ]
    return Resampled(
        minutes=minutes,
        bars=out,
        symbol=g_sym,
        window=g_win,
        first=minute[starts],
        last=minute[ends],
    )


__all__ = ["DayBars", "Resampled", "day_bars", "minute_starts", "resample_day"]
