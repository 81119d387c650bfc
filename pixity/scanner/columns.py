"""The columns and dtypes of every frame the scanner returns, and how frames are built.

One definition per frame, so an empty frame (nothing started yet) has exactly the columns
and dtypes of a full one and the dashboard never has to special-case it. Market times
(``*_ts``) become tz-aware IST timestamps, wall-clock times (``*_at``) tz-aware UTC ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pixity.frames import IST_TS_DTYPE

UTC_AT_DTYPE = pd.DatetimeTZDtype("us", "UTC")
_IST_SUFFIX = "+05:30"
_IST_OFFSET = np.timedelta64(330, "m")

OVERVIEW: dict[str, object] = {
    "symbol": "str",
    "name": "str",
    "strategy_id": "str",
    "status": "str",
    "timeframe": "str",
    "last_bar_ts": IST_TS_DTYPE,  # the runner's last 15m bar
    "last_price": "float64",  # close of the symbol's newest 1m bar of the session day
    "change_pct": "float64",  # against the open of its first 1m bar of the day
    "price_ts": IST_TS_DTYPE,  # open time of that newest 1m bar
    "current_bias": "str",
    "signal_state": "str",
    "last_signal": "str",
    "last_signal_confidence": "float64",
    "last_signal_bar_ts": IST_TS_DTYPE,
    "last_signal_status": "str",
    "position": "int64",  # signed quantity: > 0 long, < 0 short, 0 flat or no trade today
    "avg_price": "float64",
    "realised_pnl": "float64",
    "unrealised_pnl": "float64",  # (last_price - avg_price) * position
    "pnl": "float64",  # realised + unrealised, before costs
    "updated_at": UTC_AT_DTYPE,
    "last_error": "str",
    "attention": "bool",  # STALE or ERROR: the row must stand out
}

SIGNALS: dict[str, object] = {
    "signal_id": "str",
    "signal_type": "str",
    "confidence": "float64",
    "bar_ts": IST_TS_DTYPE,
    "status": "str",
    "status_reason": "str",
    "created_at": UTC_AT_DTYPE,
}

FILLS: dict[str, object] = {
    "fill_id": "str",
    "order_id": "str",
    "strategy_id": "str",
    "side": "str",
    "quantity": "int64",
    "price": "float64",
    "costs": "float64",
    "ts": IST_TS_DTYPE,
}

CANDLES: dict[str, object] = {
    "bar_ts": IST_TS_DTYPE,
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "volume": "int64",
    "tick_count": "int64",
    "complete": "bool",  # the 1m bars have reached the candle's end
}

MARKS: dict[str, object] = {
    "bar_ts": IST_TS_DTYPE,
    "signal_type": "str",
    "confidence": "float64",
    "status": "str",
    "price": "float64",  # close of the 15m candle the signal was computed on, if drawn
}


def build_frame(
    spec: Mapping[str, object], columns: Mapping[str, Sequence[object]] | None = None
) -> pd.DataFrame:
    """Return a frame with exactly ``spec``'s columns and dtypes, from column lists or empty.

    Text market times are parsed as IST, text wall-clock times as UTC; None is missing.
    """
    data = columns or {}
    return pd.DataFrame({name: _column(data.get(name, ()), dtype) for name, dtype in spec.items()})


def _column(values: Sequence[object], dtype: object) -> pd.Series:
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _times(values, dtype)
    series: pd.Series = pd.Series(list(values), dtype=dtype)  # type: ignore[call-overload]
    return series


def _times(values: Sequence[object], dtype: pd.DatetimeTZDtype) -> pd.Series:
    """Parse ``*_ts`` (IST, "+05:30") or ``*_at`` (UTC, no offset) text; None is NaT.

    The reads check these forms as they read (``queries.fetch``), so this does not fail.
    """
    utc = stored_times(values, dtype == IST_TS_DTYPE)
    return pd.Series(pd.DatetimeIndex(utc).tz_localize("UTC").tz_convert(dtype.tz), dtype=dtype)


def stored_times(values: Sequence[Any], ist: bool) -> np.ndarray:
    """Return the UTC instants of ``*_ts`` (``ist``) or ``*_at`` text; raise for any other form.

    numpy parses these in C, several times faster than ``pd.to_datetime`` (a refresh parses
    four columns of 500).
    """
    present = [v for v in values if v is not None]
    if {len(v) for v in present} - {25 if ist else 19} or {v[19:] for v in present} - {
        _IST_SUFFIX if ist else ""
    }:
        raise ValueError("not in the stored form")
    naive = np.array(["NaT" if v is None else v[:19] for v in values], dtype="datetime64[us]")
    return naive - _IST_OFFSET if ist else naive
