"""The primary rule of ``pixityAI_meta``: trend, pullback, trigger.

On each closed 15m bar ``t`` of a symbol, with the levels of ``features`` (EMA(20) =
``ema_fast``, EMA(50) = ``ema_slow``, the session ``vwap``, ``atr``):

- **trend** (the bias): +1 (BUY) when ``close_t > ema_slow_t``, -1 (SELL) when below, 0 when
  equal;
- **pullback**: BUY when some bar ``j`` of the last ``lookback`` (m) bars of the same day, ``t``
  included, came within ``pullback_atr`` (k) ATR of EMA(20) or of the VWAP, or through it:
  ``low_j <= max(ema_fast_j, vwap_j) + k * atr_j``; SELL mirrors it:
  ``high_j >= min(ema_fast_j, vwap_j) - k * atr_j``;
- **trigger**: BUY when the close breaks the previous bar's high, ``close_t > high_{t-1}``;
  SELL when ``close_t < low_{t-1}``; the previous bar must be of the same day;
- **candidate**: BUY when the features are warm and trend, pullback and trigger all say BUY;
  SELL likewise. None on the day's first bar (no previous bar that day) nor on its last slot
  (15:15, the bar that closes the session: there is nothing left to trade).

``RuleState`` applies the rule bar by bar (live); ``batch_rule`` over a frame of
``features.batch_features`` (research). Both give the same answers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from datetime import date

import numpy as np
import pandas as pd

from pixity.domain import Bar
from pixity.errors import ConfigError, InvalidValueError
from pixity.markettime import SESSION_MINUTES, SESSION_OPEN, to_ist
from pixity.strategies.pixity_meta.features import Levels

BAR_MINUTES = 15
LAST_BAR_MINUTES = SESSION_MINUTES - BAR_MINUTES  # the 15:15 bar, 360 minutes after 09:15
BUY, SELL, NONE = 1, -1, 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleParams:
    """The rule's parameters: the pullback distance k (in ATR) and the window m (in bars)."""

    pullback_atr: float = 0.25
    lookback: int = 3

    def __post_init__(self) -> None:
        if not 0.0 <= self.pullback_atr <= 10.0:
            raise ConfigError(f"pullback_atr {self.pullback_atr} must be in [0, 10]")
        if isinstance(self.lookback, bool) or not 1 <= self.lookback <= 25:
            raise ConfigError(f"lookback {self.lookback} must be an int in 1..25")

    def as_dict(self) -> dict[str, float]:
        """Return the parameters as plain values (for metadata)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RuleResult:
    """The rule's answer on one bar: the trend (+1/-1/0) and the candidate (+1/-1/0)."""

    trend: int
    candidate: int


class RuleState:
    """One symbol's rule, applied bar by bar."""

    def __init__(self, params: RuleParams) -> None:
        self.params = params
        self._day: date | None = None
        self._prev: tuple[float, float] | None = None  # the previous bar's high and low today
        self._buy: deque[bool] = deque(maxlen=params.lookback)
        self._sell: deque[bool] = deque(maxlen=params.lookback)

    def update(self, bar: Bar, levels: Levels, *, warm: bool) -> RuleResult:
        """Take the next bar and its levels; return the trend and the candidate."""
        ts = to_ist(bar.ts)
        day = ts.date()
        if day != self._day:
            self._day, self._prev = day, None
            self._buy.clear()
            self._sell.clear()
        reach = self.params.pullback_atr * levels.atr
        fast, vwap = levels.ema_fast, levels.vwap
        # max() and min() of two, written out (see FeatureState._update_levels).
        self._buy.append(bar.low <= (vwap if vwap > fast else fast) + reach)
        self._sell.append(bar.high >= (vwap if vwap < fast else fast) - reach)
        close = bar.close
        trend = _sign(close - levels.ema_slow)
        minutes = ts.hour * 60 + ts.minute - _OPEN_MINUTE  # minutes_since_open()
        candidate = NONE
        if warm and self._prev is not None and minutes < LAST_BAR_MINUTES:
            if trend == BUY and any(self._buy) and close > self._prev[0]:
                candidate = BUY
            elif trend == SELL and any(self._sell) and close < self._prev[1]:
                candidate = SELL
        self._prev = (bar.high, bar.low)
        return _RESULTS[trend, candidate]


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


# Every answer there can be, made once (a result is frozen): one is handed out per bar.
_RESULTS = {(t, c): RuleResult(t, c) for t in (BUY, SELL, NONE) for c in (BUY, SELL, NONE)}
_OPEN_MINUTE = SESSION_OPEN.hour * 60 + SESSION_OPEN.minute


_NEEDS = ("symbol", "bar_ts", "high", "low", "close", "minutes", "warm", "ema_fast", "ema_slow")


def batch_rule(frame: pd.DataFrame, params: RuleParams) -> pd.DataFrame:
    """Return ``trend`` and ``candidate`` (+1 BUY, -1 SELL, 0) for each row of ``frame``.

    ``frame`` is sorted by (symbol, bar_ts) with the columns of ``batch_features``.
    """
    missing = [c for c in (*_NEEDS, "vwap", "atr") if c not in frame.columns]
    if missing:
        raise InvalidValueError(f"rule frame lacks columns {missing}")
    day = frame["bar_ts"].dt.tz_convert("Asia/Kolkata").dt.date
    key = [frame["symbol"], day]
    reach = params.pullback_atr * frame["atr"]
    touch_buy = frame["low"] <= np.maximum(frame["ema_fast"], frame["vwap"]) + reach
    touch_sell = frame["high"] >= np.minimum(frame["ema_fast"], frame["vwap"]) - reach
    pull_buy, pull_sell = (
        _recent(touch_buy, key, params.lookback),
        _recent(touch_sell, key, params.lookback),
    )
    prev_high = frame["high"].groupby(key).shift(1)
    prev_low = frame["low"].groupby(key).shift(1)
    trend = np.sign(frame["close"] - frame["ema_slow"]).astype("int64")
    allowed = frame["warm"].astype(bool) & prev_high.notna() & (frame["minutes"] < LAST_BAR_MINUTES)
    buy = allowed & (trend == BUY) & pull_buy & (frame["close"] > prev_high)
    sell = allowed & (trend == SELL) & pull_sell & (frame["close"] < prev_low)
    candidate = np.where(buy, BUY, np.where(sell, SELL, NONE))
    return pd.DataFrame({"trend": trend, "candidate": candidate}, index=frame.index)


def _recent(flags: pd.Series, key: list[pd.Series], lookback: int) -> pd.Series:
    """Tell, per row, whether ``flags`` held on this row or one of the ``lookback - 1`` before it
    in the same group."""
    grouped = flags.astype("float64").groupby(key)
    hit = flags.astype(bool)
    for back in range(1, lookback):
        hit = hit | (grouped.shift(back) == 1.0)
    return hit
