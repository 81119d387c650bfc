"""DataFrame forms of bars and ticks, with the history lake's columns and dtypes.

One definition of the columns, shared by the lake (``pixity.stores.lake``), the sample
market and research code, so a frame built anywhere can be written and compared as is.

- bars: ``symbol, bar_ts, open, high, low, close, volume, tick_count``; ``bar_ts`` is the
  bar's open time, tz-aware IST.
- ticks: the live buffer's ``ticks`` table with Upstox's names ``symbol, ltt, ltp, ltq, vtt,
  seq`` plus ``volume`` (the quantity the tick adds to its bar); ``ltt`` is epoch
  milliseconds, ``vtt`` may be missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from pixity.domain import Bar, Tick, check_symbol
from pixity.errors import InvalidValueError
from pixity.markettime import IST, from_epoch_ms, nse_calendar, to_epoch_ms

IST_TS_DTYPE = pd.DatetimeTZDtype("us", "Asia/Kolkata")

BAR_DTYPES: dict[str, object] = {
    "symbol": "str",
    "bar_ts": IST_TS_DTYPE,
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "volume": "int64",
    "tick_count": "int64",
}
BAR_COLUMNS: tuple[str, ...] = tuple(BAR_DTYPES)

TICK_DTYPES: dict[str, object] = {
    "symbol": "str",
    "ltt": "int64",
    "ltp": "float64",
    "ltq": "int64",
    "vtt": "Int64",  # nullable: some feeds give no cumulative volume
    "seq": "int64",
    "volume": "int64",
}
TICK_COLUMNS: tuple[str, ...] = tuple(TICK_DTYPES)


def empty_bars_frame() -> pd.DataFrame:
    """Return a bars frame with no rows and the lake's columns and dtypes."""
    return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in BAR_DTYPES.items()})  # type: ignore[call-overload]


def empty_ticks_frame() -> pd.DataFrame:
    """Return a ticks frame with no rows and the lake's columns and dtypes."""
    return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in TICK_DTYPES.items()})  # type: ignore[call-overload]


def conform_bars_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with exactly the bar columns in order, cast to the lake's dtypes.

    A tz-aware ``bar_ts`` in another zone is converted to IST; a naive one is refused.
    """
    _require_columns(df, BAR_COLUMNS, "bars")
    out = df.loc[:, list(BAR_COLUMNS)].copy()
    out["bar_ts"] = _to_ist_column(out["bar_ts"], "bar_ts")
    return out.astype(BAR_DTYPES).reset_index(drop=True)  # type: ignore[arg-type]


def conform_ticks_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with exactly the tick columns in order, cast to the lake's dtypes."""
    _require_columns(df, TICK_COLUMNS, "ticks")
    out = df.loc[:, list(TICK_COLUMNS)].copy()
    return out.astype(TICK_DTYPES).reset_index(drop=True)  # type: ignore[arg-type]


def frame_from_bars(bars: Iterable[Bar]) -> pd.DataFrame:
    """Return the bars as a frame with the lake's columns (length and state are dropped)."""
    rows = list(bars)
    if not rows:
        return empty_bars_frame()
    data = {
        "symbol": [b.symbol for b in rows],
        "bar_ts": pd.to_datetime([b.ts for b in rows], utc=True),
        "open": [b.open for b in rows],
        "high": [b.high for b in rows],
        "low": [b.low for b in rows],
        "close": [b.close for b in rows],
        "volume": [b.volume for b in rows],
        "tick_count": [b.tick_count for b in rows],
    }
    return conform_bars_frame(pd.DataFrame(data))


def bars_from_frame(df: pd.DataFrame, *, minutes: int = 1) -> list[Bar]:
    """Return closed ``minutes``-long bars from a frame with the lake's columns, in row order.

    Every row goes through the ``Bar`` constructor, so a bad row raises ``InvalidValueError``.
    """
    frame = conform_bars_frame(df)
    return [
        Bar(
            symbol=str(symbol),
            ts=ts.to_pydatetime(),
            minutes=minutes,
            open=float(o),
            high=float(h),
            low=float(lo),
            close=float(c),
            volume=int(v),
            tick_count=int(n),
            closed=True,
        )
        for symbol, ts, o, h, lo, c, v, n in zip(*(frame[col] for col in BAR_COLUMNS), strict=True)
    ]


def frame_from_ticks(ticks: Iterable[Tick]) -> pd.DataFrame:
    """Return the ticks as a frame with the ``ticks`` table's columns."""
    rows = list(ticks)
    if not rows:
        return empty_ticks_frame()
    data = {
        "symbol": [t.symbol for t in rows],
        "ltt": [to_epoch_ms(t.ts) for t in rows],
        "ltp": [t.price for t in rows],
        "ltq": [t.last_qty for t in rows],
        "vtt": pd.array([t.cum_volume for t in rows], dtype="Int64"),
        "seq": [t.seq for t in rows],
        "volume": [t.volume for t in rows],
    }
    return conform_ticks_frame(pd.DataFrame(data))


def ticks_from_frame(df: pd.DataFrame) -> list[Tick]:
    """Return ticks from a frame with the ``ticks`` table's columns, in row order."""
    frame = conform_ticks_frame(df)
    vtt = frame["vtt"].astype(object).where(frame["vtt"].notna(), None)
    return [
        Tick(
            symbol=str(symbol),
            ts=from_epoch_ms(int(ltt)),
            price=float(ltp),
            last_qty=int(ltq),
            cum_volume=None if cum is None else int(cum),
            volume=int(volume),
            seq=int(seq),
        )
        for symbol, ltt, ltp, ltq, cum, seq, volume in zip(
            frame["symbol"],
            frame["ltt"],
            frame["ltp"],
            frame["ltq"],
            vtt,
            frame["seq"],
            frame["volume"],
            strict=True,
        )
    ]


# ---------------------------------------------------------------- checks

# Extra columns a bars frame may carry if they hold what the lake stores: closed 1m bars.
_BAR_EXTRAS: Mapping[str, object] = {"closed": True, "minutes": 1}
_SESSION_FIRST_MINUTE = 9 * 60 + 15
_SESSION_LAST_MINUTE = 15 * 60 + 29


def check_bars_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Check a frame of closed 1m bars as ``Bar`` would, plus the session; return it conformed.

    Beyond the bar columns, ``closed`` (all True) and ``minutes`` (all 1) may be present.
    The first bad row is named in the ``InvalidValueError``, with how many more there are.
    """
    _check_columns(df, BAR_COLUMNS, _BAR_EXTRAS, "bars")
    _check_no_nulls(df, list(BAR_COLUMNS), "bars")
    frame = conform_bars_frame(df)
    _check_bars(frame)
    return frame


def check_ticks_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Check a frame with the ``ticks`` table's columns as ``Tick`` would; return it conformed.

    ``seq`` must be unique per (symbol, IST day): it is the receive order.
    """
    _check_columns(df, TICK_COLUMNS, {}, "ticks")
    _check_no_nulls(df, [c for c in TICK_COLUMNS if c != "vtt"], "ticks")
    frame = conform_ticks_frame(df)
    _check_ticks(frame)
    return frame


def _check_columns(
    df: pd.DataFrame, columns: tuple[str, ...], extras: Mapping[str, object], what: str
) -> None:
    unknown = [c for c in df.columns if c not in columns and c not in extras]
    if unknown:
        raise InvalidValueError(f"{what} frame has unknown columns {unknown}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InvalidValueError(f"{what} frame lacks columns {missing}")
    for name, wanted in extras.items():
        if name in df.columns and not (df[name] == wanted).all():
            raise InvalidValueError(f"the lake holds closed 1m bars: every {name} must be {wanted}")


def _check_no_nulls(df: pd.DataFrame, columns: list[str], what: str) -> None:
    nulls = [c for c in columns if df[c].isna().any()]
    if nulls:
        raise InvalidValueError(f"{what} frame has missing values in {nulls}")


def _fail_first(frame: pd.DataFrame, bad: pd.Series, describe: str) -> None:
    """Raise naming the first bad row and how many there are, if any row is bad."""
    if not bad.any():
        return
    row = frame[bad.to_numpy()].iloc[0]
    where = row["bar_ts"].isoformat() if "bar_ts" in row else f"ltt {row['ltt']}"
    more = int(bad.sum()) - 1
    tail = f" (and {more} more rows)" if more else ""
    raise InvalidValueError(f"{row['symbol']} {where}: {describe.format_map(row)}{tail}")


def _check_symbols(frame: pd.DataFrame) -> None:
    for symbol in frame["symbol"].unique():
        check_symbol(str(symbol))


def _check_bars(frame: pd.DataFrame) -> None:
    """Check a conformed bars frame with the ``Bar`` constructor's rules, plus the session."""
    _check_symbols(frame)
    prices = frame[["open", "high", "low", "close"]].to_numpy()
    _fail_first(
        frame,
        pd.Series(~(np.isfinite(prices) & (prices > 0)).all(axis=1)),
        "prices open {open} high {high} low {low} close {close} must be finite and > 0",
    )
    _fail_first(frame, frame["high"] < frame["low"], "high {high} < low {low}")
    for name in ("open", "close"):
        outside = (frame[name] < frame["low"]) | (frame[name] > frame["high"])
        _fail_first(frame, outside, f"{name} {{{name}}} outside low {{low}} .. high {{high}}")
    for name in ("volume", "tick_count"):
        _fail_first(frame, frame[name] < 0, f"{name} {{{name}}} must be >= 0")
    _check_bar_times(frame)
    _fail_first(
        frame, frame.duplicated(["symbol", "bar_ts"]), "two bars for the same symbol and time"
    )


def _check_bar_times(frame: pd.DataFrame) -> None:
    ts = frame["bar_ts"]
    off_minute = (ts.dt.second != 0) | (ts.dt.microsecond != 0) | (ts.dt.nanosecond != 0)
    _fail_first(frame, off_minute, "bar time is not on a minute")
    minute = ts.dt.hour * 60 + ts.dt.minute
    outside = (minute < _SESSION_FIRST_MINUTE) | (minute > _SESSION_LAST_MINUTE)
    _fail_first(frame, outside, "a 1m bar must open between 09:15 and 15:29 IST")
    cal = nse_calendar()
    closed_days = {d for d in ts.dt.date.unique() if not cal.is_trading_day(d)}
    _fail_first(frame, ts.dt.date.isin(closed_days), "bar date is not an NSE trading day")


def _check_ticks(frame: pd.DataFrame) -> None:
    """Check a conformed ticks frame with the ``Tick`` constructor's rules."""
    _check_symbols(frame)
    price = frame["ltp"].to_numpy()
    _fail_first(
        frame, pd.Series(~(np.isfinite(price) & (price > 0))), "ltp {ltp} must be finite and > 0"
    )
    for name in ("ltt", "ltq", "seq", "volume"):
        _fail_first(frame, frame[name] < 0, f"{name} {{{name}}} must be >= 0")
    _fail_first(frame, (frame["vtt"] < 0).fillna(False), "vtt {vtt} must be >= 0")
    days = pd.to_datetime(frame["ltt"], unit="ms", utc=True).dt.tz_convert(IST).dt.date
    _fail_first(
        frame,
        pd.concat([frame[["symbol", "seq"]], days.rename("d")], axis=1).duplicated(),
        "two ticks of one symbol and day with seq {seq}",
    )


def _require_columns(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InvalidValueError(f"{what} frame lacks columns {missing}; needs {list(columns)}")


def _to_ist_column(column: pd.Series, name: str) -> pd.Series:
    if not isinstance(column.dtype, pd.DatetimeTZDtype):
        if len(column) == 0:
            # An empty query result has no tz to convert from (pandas refuses naive -> aware).
            return pd.Series([], dtype=IST_TS_DTYPE, name=column.name, index=column.index)
        raise InvalidValueError(f"{name} must be tz-aware datetimes, got dtype {column.dtype}")
    converted: pd.Series = column.dt.tz_convert("Asia/Kolkata").astype(IST_TS_DTYPE)
    return converted
