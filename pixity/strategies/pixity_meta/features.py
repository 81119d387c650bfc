"""Features of ``pixityAI_meta`` on 15m bars, computed two ways that agree.

``batch_features`` works over whole bar frames (research, training); ``FeatureState`` takes
one symbol's closed bars one at a time (live, backtest). A hypothesis test holds them equal to
1e-9. Both see only the bar itself and the bars before it. The recursive averages and running
sums are computed step by step in both, with the same arithmetic, so the levels agree to the
bit (the rule compares them with prices, where a last-bit difference could flip an answer);
only the log returns (``math.log`` against ``np.log``) may differ in the last bit.

Levels (kept for the primary rule, ``LEVEL_NAMES``):

- ``ema_fast``, ``ema_slow``: exponential averages of the close over ``EMA_FAST`` (20) and
  ``EMA_SLOW`` (50) bars, ``alpha = 2 / (span + 1)``, seeded with the symbol's first close and
  carried across days;
- ``vwap``: the session VWAP of the typical price ``(high + low + close) / 3``, reset each day;
  while the day's volume is still 0 it is the bar's close;
- ``atr``: Wilder's average true range over ``ATR_BARS`` (14) bars (``alpha = 1 / 14``, seeded
  with the first true range; the first bar's true range is its high - low), floored at
  ``ATR_FLOOR`` (1 bp) of the close so that a flat market cannot divide by zero.

Features (``FEATURE_NAMES``, in this order), at each bar:

- ``dist_ema20``, ``dist_ema50``, ``dist_vwap``: ``(close - level) / atr``;
- ``ret_1``, ``ret_4``: log returns of the close over 1 and 4 bars (across days too);
- ``vol_tod``: ``log((volume + 1) / (mean + 1))``, where ``mean`` is the mean volume of the bars
  at the same time of day on the previous ``VOLUME_DAYS`` (5) days that had one (the +1 keeps a
  zero mean defined; real 15m volumes are thousands of shares, where it does not matter);
- ``range_atr``: ``(high - low) / atr``;
- ``minutes``: minutes from 09:15 to the bar's open;
- ``day_move``: ``(close - the day's first open) / atr``;
- ``rsi_14``: Wilder's RSI over ``RSI_BARS`` (14) close-to-close changes, ``100 * gain /
  (gain + loss)`` (50 while both are 0).

Every feature is scale-free (in ATR, log returns, ratios, minutes), so one model serves
symbols of any price and liquidity.

Warm-up: a bar's features exist once ``WARMUP_BARS`` (50) bars of the symbol were seen,
this one included, and its time of day was seen on ``VOLUME_DAYS`` earlier days: with every
bar present, from the first bar of the sixth day (``WARMUP_DAYS`` days of history before it).
Once warm, every feature is finite.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from pixity.domain import Bar
from pixity.errors import InvalidValueError
from pixity.markettime import SESSION_OPEN, to_ist

EMA_FAST = 20
EMA_SLOW = 50
ATR_BARS = 14
RSI_BARS = 14
VOLUME_DAYS = 5
WARMUP_BARS = 50
WARMUP_DAYS = VOLUME_DAYS
ATR_FLOOR = 1e-4

FEATURE_NAMES: tuple[str, ...] = (
    "dist_ema20",
    "dist_ema50",
    "dist_vwap",
    "ret_1",
    "ret_4",
    "vol_tod",
    "range_atr",
    "minutes",
    "day_move",
    "rsi_14",
)
LEVEL_NAMES: tuple[str, ...] = ("ema_fast", "ema_slow", "vwap", "atr")
FEATURE_PARAMS: dict[str, float] = {
    "ema_fast": EMA_FAST,
    "ema_slow": EMA_SLOW,
    "atr_bars": ATR_BARS,
    "rsi_bars": RSI_BARS,
    "volume_days": VOLUME_DAYS,
    "warmup_bars": WARMUP_BARS,
    "atr_floor": ATR_FLOOR,
}
_BAR_COLUMNS = ("symbol", "bar_ts", "open", "high", "low", "close", "volume")
_OPEN_MINUTE = SESSION_OPEN.hour * 60 + SESSION_OPEN.minute
_A_FAST, _A_SLOW = 2.0 / (EMA_FAST + 1), 2.0 / (EMA_SLOW + 1)
_A_ATR, _A_RSI = 1.0 / ATR_BARS, 1.0 / RSI_BARS


@dataclass(frozen=True, slots=True)
class Levels:
    """The price levels at the last bar: the averages, the session VWAP and the ATR."""

    ema_fast: float
    ema_slow: float
    vwap: float
    atr: float


def minutes_since_open(when: datetime) -> int:
    """Return the minutes from 09:15 IST to ``when`` on its day."""
    local = to_ist(when)
    return local.hour * 60 + local.minute - _OPEN_MINUTE


# ---------------------------------------------------------------- incremental (live)


class FeatureState:
    """One symbol's features, updated bar by bar (closed bars, oldest first)."""

    def __init__(self) -> None:
        self._seen = 0
        self._closes: deque[float] = deque(maxlen=5)
        self._ema_fast = self._ema_slow = self._atr = 0.0
        self._gain = self._loss = 0.0
        self._day: date | None = None
        self._day_open = self._pv = self._vol = 0.0
        self._slot_volumes: dict[int, deque[int]] = {}
        self.levels: Levels | None = None

    def update(self, bar: Bar) -> dict[str, float] | None:
        """Take the next bar; return its features, or None while warming up."""
        local = to_ist(bar.ts)
        minutes = local.hour * 60 + local.minute - _OPEN_MINUTE  # minutes_since_open()
        self._update_levels(bar, local.date())
        history = self._slot_volumes.get(minutes)
        if history is None:
            history = self._slot_volumes[minutes] = deque(maxlen=VOLUME_DAYS)
        mean = sum(history) / VOLUME_DAYS if len(history) == VOLUME_DAYS else None
        history.append(bar.volume)
        self._closes.append(bar.close)
        if self._seen < WARMUP_BARS or mean is None:
            return None
        return self._features(bar, minutes, mean)

    def _update_levels(self, bar: Bar, day: date) -> None:
        # Run on every bar of a week of warm-up, every backtest day: _step() is written out
        # (the same arithmetic), and so are max() and min() of two (``b if b > a else a`` is
        # max(a, b), ``b if b < a else a`` min(a, b), down to which one they return).
        close, high, low = bar.close, bar.high, bar.low
        if self._seen == 0:
            self._ema_fast = self._ema_slow = close
            self._atr = high - low
        else:
            prev = self._closes[-1]
            true_range = (prev if prev > high else high) - (prev if prev < low else low)
            self._ema_fast += _A_FAST * (close - self._ema_fast)
            self._ema_slow += _A_SLOW * (close - self._ema_slow)
            self._atr += _A_ATR * (true_range - self._atr)
            self._update_rsi(close - prev)
        if day != self._day:
            self._day, self._day_open, self._pv, self._vol = day, bar.open, 0.0, 0.0
        self._pv += (high + low + close) / 3.0 * bar.volume
        self._vol += bar.volume
        vwap = self._pv / self._vol if self._vol > 0 else close
        floor = ATR_FLOOR * close
        atr = floor if floor > self._atr else self._atr
        self.levels = Levels(self._ema_fast, self._ema_slow, vwap, atr)
        self._seen += 1

    def _update_rsi(self, change: float) -> None:
        gain = 0.0 if 0.0 > change else change  # max(change, 0.0)
        loss = 0.0 if 0.0 > -change else -change  # max(-change, 0.0)
        if self._seen == 1:  # the first change seeds the averages
            self._gain, self._loss = gain, loss
        else:
            self._gain += _A_RSI * (gain - self._gain)
            self._loss += _A_RSI * (loss - self._loss)

    def _features(self, bar: Bar, minutes: int, mean: float) -> dict[str, float]:
        levels = self.levels
        assert levels is not None
        close, atr = bar.close, levels.atr
        total = self._gain + self._loss
        return {
            "dist_ema20": (close - levels.ema_fast) / atr,
            "dist_ema50": (close - levels.ema_slow) / atr,
            "dist_vwap": (close - levels.vwap) / atr,
            "ret_1": math.log(close / self._closes[-2]),
            "ret_4": math.log(close / self._closes[0]),
            "vol_tod": math.log((bar.volume + 1.0) / (mean + 1.0)),
            "range_atr": (bar.high - bar.low) / atr,
            "minutes": float(minutes),
            "day_move": (close - self._day_open) / atr,
            "rsi_14": 100.0 * self._gain / total if total > 0 else 50.0,
        }


def _step(average: float, value: float, alpha: float) -> float:
    """Move a recursive average toward ``value``: the one formula both ways use."""
    return average + alpha * (value - average)


def _smooth(values: np.ndarray, alpha: float) -> np.ndarray:
    """Return the recursive average of ``values`` seeded with the first (step by step, as live).

    A loop, not ``ewm``: the same arithmetic as ``FeatureState`` gives the same bits, so a
    level that equals a price in one implementation equals it in the other (the rule
    compares them).
    """
    out = np.empty(len(values))
    if len(values):
        average = float(values[0])
        for i, value in enumerate(values.tolist()):
            average = average if i == 0 else _step(average, value, alpha)
            out[i] = average
    return out


# ---------------------------------------------------------------- batch (research)


def batch_features(bars: pd.DataFrame) -> pd.DataFrame:
    """Return the features of every bar of a 15m bar frame (the lake's columns), per symbol.

    Rows come back sorted by (symbol, bar_ts) with the bar columns, ``LEVEL_NAMES``,
    ``FEATURE_NAMES`` and ``warm``; the features of a bar that is not warm are NaN.
    """
    missing = [c for c in _BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise InvalidValueError(f"bar frame lacks columns {missing}; needs {list(_BAR_COLUMNS)}")
    frame = bars.loc[:, list(_BAR_COLUMNS)].sort_values(["symbol", "bar_ts"], kind="stable")
    frame = frame.reset_index(drop=True)
    if frame.duplicated(["symbol", "bar_ts"]).any():
        raise InvalidValueError("bar frame has two bars for one symbol and time")
    parts = [_symbol_frame(group) for _, group in frame.groupby("symbol", sort=True)]
    if not parts:
        return frame.reindex(columns=[*_BAR_COLUMNS, *LEVEL_NAMES, *FEATURE_NAMES, "warm"])
    return pd.concat(parts, ignore_index=True)


def _symbol_frame(bars: pd.DataFrame) -> pd.DataFrame:
    out = bars.reset_index(drop=True).copy()
    ts = out["bar_ts"].dt.tz_convert("Asia/Kolkata")
    day = ts.dt.date
    out["minutes"] = (ts.dt.hour * 60 + ts.dt.minute - _OPEN_MINUTE).astype("float64")
    close = out["close"].to_numpy(dtype="float64")
    out["ema_fast"] = _smooth(close, _A_FAST)
    out["ema_slow"] = _smooth(close, _A_SLOW)
    out["vwap"] = _vwap(out, day)
    out["atr"] = np.maximum(_smooth(_true_range(out), _A_ATR), ATR_FLOOR * close)
    _add_features(out, day)
    seen = np.arange(1, len(out) + 1)
    out["warm"] = (seen >= WARMUP_BARS) & out["_vol_mean"].notna()
    out.loc[~out["warm"], list(FEATURE_NAMES)] = np.nan
    return out.loc[:, [*_BAR_COLUMNS, *LEVEL_NAMES, *FEATURE_NAMES, "warm"]]


def _day_cumsum(values: np.ndarray, day: pd.Series) -> np.ndarray:
    """Return running sums that restart each day, added in order (as ``FeatureState`` does)."""
    out = np.empty(len(values))
    starts = np.flatnonzero(np.r_[True, day.to_numpy()[1:] != day.to_numpy()[:-1]])
    for start, stop in zip(starts, [*starts[1:], len(values)], strict=True):
        out[start:stop] = np.add.accumulate(values[start:stop])
    return out


def _vwap(out: pd.DataFrame, day: pd.Series) -> np.ndarray:
    volume = out["volume"].to_numpy(dtype="float64")
    typical = ((out["high"] + out["low"] + out["close"]) / 3.0).to_numpy()
    pv = _day_cumsum(typical * volume, day)
    cum_volume = _day_cumsum(volume, day)
    with np.errstate(divide="ignore", invalid="ignore"):
        vwap = pv / cum_volume
    return np.where(cum_volume > 0, vwap, out["close"].to_numpy())


def _true_range(out: pd.DataFrame) -> np.ndarray:
    high, low, close = (out[c].to_numpy(dtype="float64") for c in ("high", "low", "close"))
    # The first bar has no previous close; its own close in its place gives high - low.
    prev = np.r_[close[:1], close[:-1]]
    true_range: np.ndarray = np.maximum(high, prev) - np.minimum(low, prev)
    return true_range


def _rsi(close: np.ndarray) -> np.ndarray:
    rsi = np.full(len(close), np.nan)
    if len(close) > 1:
        change = np.diff(close)
        gain = _smooth(np.maximum(change, 0.0), _A_RSI)
        loss = _smooth(np.maximum(-change, 0.0), _A_RSI)
        total = gain + loss
        with np.errstate(divide="ignore", invalid="ignore"):
            rsi[1:] = np.where(total > 0, 100.0 * gain / total, 50.0)
    return rsi


def _slot_mean(out: pd.DataFrame) -> pd.Series:
    # Integer volumes: the sum of five is exact, so any order of addition gives the same mean.
    by_slot = out["volume"].astype("float64").groupby(out["minutes"])
    shifted = [by_slot.shift(k) for k in range(1, VOLUME_DAYS + 1)]
    mean: pd.Series = sum(shifted[1:], shifted[0]) / VOLUME_DAYS
    return mean


def _add_features(out: pd.DataFrame, day: pd.Series) -> None:
    close, atr = out["close"], out["atr"]
    out["_vol_mean"] = _slot_mean(out)
    out["dist_ema20"] = (close - out["ema_fast"]) / atr
    out["dist_ema50"] = (close - out["ema_slow"]) / atr
    out["dist_vwap"] = (close - out["vwap"]) / atr
    out["ret_1"] = np.log(close / close.shift(1))
    out["ret_4"] = np.log(close / close.shift(4))
    out["vol_tod"] = np.log((out["volume"] + 1.0) / (out["_vol_mean"] + 1.0))
    out["range_atr"] = (out["high"] - out["low"]) / atr
    out["day_move"] = (close - out["open"].groupby(day).transform("first")) / atr
    out["rsi_14"] = _rsi(close.to_numpy(dtype="float64"))
