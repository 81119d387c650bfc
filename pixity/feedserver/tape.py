"""A day's (or a replay's) ticks as columns, with everything a full-mode quote needs.

The tape is built once at start: per tick the instrument, exchange time ``ltt``, price,
last quantity, cumulative volume ``vtt`` and previous close, plus what ``full`` mode derives
from them (VWAP ``atp``, the current 1-minute candle and the day's candle so far), computed
with vectorised group-bys rather than per tick in the send path. The feed entries are then
encoded from these columns ahead of time (``entries``), so sending costs no per-tick work
beyond slicing bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pixity.feeds.upstox_wire import CandleParts, Depth, FullParts, LtpcParts

TICK_SIZE = 0.05
DEPTH_LEVELS = 5
_MINUTE_MS = 60_000
_DAY_MS = 86_400_000
_IST_OFFSET_MS = 19_800_000  # IST is UTC+05:30 all year: no daylight saving


@dataclass(frozen=True, slots=True)
class Slice:
    """Ticks ``lo``.. of a tape as plain-Python columns, ready for ``EntryEncoder.entry_parts``."""

    lo: int
    keys: list[str]
    ltt: list[int]
    ltpc: list[LtpcParts]  # ltp, ltt, ltq, close price (0 = unknown)
    vtt: list[int]  # 0 = unknown
    atp: list[float]
    i1: list[CandleParts]
    d1: list[CandleParts]


class Tape:
    """Ticks in time order with derived full-mode fields; immutable once built."""

    def __init__(
        self,
        symbols: Sequence[str],
        key_index: np.ndarray,
        ltt: np.ndarray,
        ltp: np.ndarray,
        ltq: np.ndarray,
        vtt: np.ndarray,
        close_price: np.ndarray,
        volume: np.ndarray | None = None,
    ) -> None:
        """Build from columns; ``vtt`` < 0 means unknown; ``volume`` defaults to vtt's rise."""
        order = np.argsort(ltt, kind="stable")
        self.symbols: tuple[str, ...] = tuple(symbols)
        self.symbol_index = {s: i for i, s in enumerate(self.symbols)}
        self.key_index = np.asarray(key_index, dtype=np.int32)[order]
        self.ltt = np.asarray(ltt, dtype=np.int64)[order]
        self.ltp = np.asarray(ltp, dtype=np.float64)[order]
        self.ltq = np.asarray(ltq, dtype=np.int64)[order]
        self.vtt = np.asarray(vtt, dtype=np.int64)[order]
        self.close_price = np.asarray(close_price, dtype=np.float64)[order]
        self._books: dict[float, Depth] = {}
        vol = self._volume() if volume is None else np.asarray(volume, dtype=np.int64)[order]
        self._derive(vol)

    def __len__(self) -> int:
        return len(self.ltt)

    @property
    def first_ms(self) -> int | None:
        """Return the first tick's exchange time, or None for an empty tape."""
        return int(self.ltt[0]) if len(self) else None

    @property
    def last_ms(self) -> int | None:
        """Return the last tick's exchange time, or None for an empty tape."""
        return int(self.ltt[-1]) if len(self) else None

    def position(self, ms: int) -> int:
        """Return how many ticks have ``ltt <= ms``."""
        return int(np.searchsorted(self.ltt, ms, side="right"))

    def _volume(self) -> np.ndarray:
        """Return each tick's volume: the rise in its symbol's vtt, else its ltq."""
        frame = pd.DataFrame({"k": self.key_index, "vtt": self.vtt})
        prev = frame.groupby("k", sort=False)["vtt"].shift(1)
        rise = (self.vtt - prev).to_numpy()
        ok = prev.notna().to_numpy() & (prev.to_numpy() >= 0) & (self.vtt >= 0) & (rise >= 0)
        return np.where(ok, np.nan_to_num(rise), self.ltq).astype(np.int64)

    def _derive(self, volume: np.ndarray) -> None:
        day = (self.ltt + _IST_OFFSET_MS) // _DAY_MS
        frame = pd.DataFrame(
            {
                "k": self.key_index,
                "day": day,
                "minute": self.ltt // _MINUTE_MS,
                "p": self.ltp,
                "v": volume,
                "pv": self.ltp * volume,
            }
        )
        by_day = frame.groupby(["k", "day"], sort=False)
        cum_v = by_day["v"].cumsum().to_numpy()
        cum_pv = by_day["pv"].cumsum().to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            self.atp = np.where(cum_v > 0, cum_pv / np.maximum(cum_v, 1), self.ltp)
        self.d_open = by_day["p"].transform("first").to_numpy()
        self.d_high = by_day["p"].cummax().to_numpy()
        self.d_low = by_day["p"].cummin().to_numpy()
        self.d_vol = np.where(self.vtt >= 0, self.vtt, cum_v).astype(np.int64)
        self.d_ts = day * _DAY_MS - _IST_OFFSET_MS
        by_minute = frame.groupby(["k", "minute"], sort=False)
        self.i1_open = by_minute["p"].transform("first").to_numpy()
        self.i1_high = by_minute["p"].cummax().to_numpy()
        self.i1_low = by_minute["p"].cummin().to_numpy()
        self.i1_vol = by_minute["v"].cumsum().to_numpy().astype(np.int64)
        self.i1_ts = (self.ltt // _MINUTE_MS) * _MINUTE_MS
        # The values a feed entry carries where the columns hold "unknown" or more digits.
        self.sent_close_price = np.nan_to_num(self.close_price, nan=0.0)
        self.sent_vtt = np.maximum(self.vtt, 0)
        self.sent_atp = np.round(self.atp, 2)

    def slice(self, lo: int, hi: int) -> Slice:
        """Return ticks ``lo``..``hi`` as plain-Python columns (tuples built by numpy and zip).

        The send path does not use these (``entries.EncodedEntries`` holds every tick's entry,
        encoded ahead of time): they feed ``EntryEncoder`` for altered entries (faults) and
        are the reference the pre-encoded entries are tested against.
        """
        ltp = self.ltp[lo:hi]
        ltt = self.ltt[lo:hi].tolist()
        cp = self.sent_close_price[lo:hi]
        return Slice(
            lo=lo,
            keys=[self.symbols[i] for i in self.key_index[lo:hi].tolist()],
            ltt=ltt,
            ltpc=list(zip(ltp.tolist(), ltt, self.ltq[lo:hi].tolist(), cp.tolist(), strict=True)),
            vtt=self.sent_vtt[lo:hi].tolist(),
            atp=self.sent_atp[lo:hi].tolist(),
            i1=_candles(
                self.i1_open, self.i1_high, self.i1_low, ltp, self.i1_vol, self.i1_ts, lo, hi
            ),
            d1=_candles(self.d_open, self.d_high, self.d_low, ltp, self.d_vol, self.d_ts, lo, hi),
        )

    def depth(self, price: float) -> Depth:
        """Return the 5-level book around ``price`` (the same tuple for the same price)."""
        book = self._books.get(price)
        if book is None:
            book = self._books[price] = depth(price)
        return book

    def full_parts(self, s: Slice, j: int) -> FullParts:
        """Return what a full-mode entry of tick ``j`` of ``s`` adds to its ltpc."""
        return FullParts(
            vtt=s.vtt[j], atp=s.atp[j], depth=self.depth(s.ltpc[j][0]), i1=s.i1[j], d1=s.d1[j]
        )


def _candles(
    o: np.ndarray,
    h: np.ndarray,
    low: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    ts: np.ndarray,
    lo: int,
    hi: int,
) -> list[CandleParts]:
    columns = (o[lo:hi], h[lo:hi], low[lo:hi], c, v[lo:hi], ts[lo:hi])
    return list(zip(*(col.tolist() for col in columns), strict=True))


def depth(price: float) -> Depth:
    """Return 5 levels (bidQ, bidP, askQ, askP) one tick apart around ``price``.

    Quantities vary deterministically with the price, so a replay is stable and a book can
    be reused while the price stands.
    """
    if not price > DEPTH_LEVELS * TICK_SIZE:  # also catches NaN: a bad price gets no book
        return ()
    ticks = round(price / TICK_SIZE)
    levels = []
    for k in range(1, DEPTH_LEVELS + 1):
        mix = (ticks * 2654435761 + k * 40503) & 0xFFFF
        levels.append(
            (
                25 + mix % 975,
                round(price - k * TICK_SIZE, 2),
                25 + (mix >> 4) % 975,
                round(price + k * TICK_SIZE, 2),
            )
        )
    return tuple(levels)


def ist_day_of(ms: int) -> int:
    """Return the IST day number (days since the epoch) holding ``ms``."""
    return (ms + _IST_OFFSET_MS) // _DAY_MS
