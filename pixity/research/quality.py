"""The data-quality report of 1m bars (frames with the lake's columns, ``pixity.frames``).

- ``overview``: per symbol, the days, bars, first and last bar, price range and volume;
- ``session_coverage``: per symbol and day, the bars present of the session's 375 minutes
  (a symbol with no bar on a day the frame holds counts as 0 of 375);
- ``gap_runs`` and ``gaps``: the runs of minutes without a bar (a minute with no trade has no
  bar: no flat bars are invented), and per symbol-day the missing minutes and longest run;
- ``return_stats`` and ``outliers``: 1m log returns close to close within a day (the
  overnight gap is not a 1m return), scored against a robust sigma per symbol,
  ``1.4826 * median(|r - median(r)|)``; an outlier is beyond ``k`` such sigmas. A symbol
  whose median absolute deviation is 0 gets no scores (a price that barely moves);
- ``volume_profile``: the share of the day's volume in each slot of the session, averaged over
  days, per symbol: NSE's U shape, busy at the open and the close.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pixity.errors import InvalidValueError
from pixity.frames import conform_bars_frame
from pixity.markettime import SESSION_MINUTES, SESSION_OPEN

MAD_TO_SIGMA = 1.4826  # a normal distribution's sigma per median absolute deviation
_OPEN_MINUTE = SESSION_OPEN.hour * 60 + SESSION_OPEN.minute


def _prepared(bars: pd.DataFrame) -> pd.DataFrame:
    """Return the bars conformed and sorted, with ``date`` and ``minute`` (after 09:15)."""
    frame = conform_bars_frame(bars).sort_values(["symbol", "bar_ts"], kind="stable")
    ts = frame["bar_ts"].dt.tz_convert("Asia/Kolkata")
    frame["date"] = ts.dt.date
    frame["minute"] = ts.dt.hour * 60 + ts.dt.minute - _OPEN_MINUTE
    return frame.reset_index(drop=True)


def clock_time(minute: int) -> str:
    """Return the IST clock time ``HH:MM`` of a minute after 09:15."""
    total = _OPEN_MINUTE + minute
    return f"{total // 60:02d}:{total % 60:02d}"


def overview(bars: pd.DataFrame) -> pd.DataFrame:
    """Return per symbol: days, bars, first and last bar time, lowest low, highest high, volume."""
    frame = _prepared(bars)
    table = frame.groupby("symbol", sort=True).agg(
        days=("date", "nunique"),
        bars=("bar_ts", "size"),
        first_bar_ts=("bar_ts", "min"),
        last_bar_ts=("bar_ts", "max"),
        low=("low", "min"),
        high=("high", "max"),
        volume=("volume", "sum"),
    )
    return table


def _presence(frame: pd.DataFrame) -> dict[tuple[str, object], np.ndarray]:
    """Return, per (symbol, date) of every symbol x every date, which session minutes have a bar."""
    present: dict[tuple[str, object], np.ndarray] = {}
    for symbol in sorted(frame["symbol"].unique()):
        for day in sorted(frame["date"].unique()):
            present[(str(symbol), day)] = np.zeros(SESSION_MINUTES, dtype=bool)
    for key, group in frame.groupby(["symbol", "date"], sort=True):
        symbol, day = key
        present[(str(symbol), day)][group["minute"].to_numpy()] = True
    return present


def session_coverage(bars: pd.DataFrame) -> pd.DataFrame:
    """Return per symbol and date: bars present, expected (375) and coverage (present / 375)."""
    rows = [
        {"symbol": symbol, "date": day, "bars": int(mask.sum()), "expected": SESSION_MINUTES}
        for (symbol, day), mask in _presence(_prepared(bars)).items()
    ]
    table = pd.DataFrame(rows, columns=["symbol", "date", "bars", "expected"])
    table["coverage"] = (table["bars"] / table["expected"]).round(4)
    return table.set_index(["symbol", "date"])


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Return (first minute, length) of each run of False in ``mask``."""
    edges = np.diff(np.r_[1, mask.astype(np.int8), 1])
    starts = np.flatnonzero(edges == -1)
    stops = np.flatnonzero(edges == 1)
    return [(int(a), int(b - a)) for a, b in zip(starts, stops, strict=True)]


def gap_runs(bars: pd.DataFrame) -> pd.DataFrame:
    """Return each run of missing minutes: symbol, date, ``from`` (HH:MM IST) and ``minutes``."""
    rows = [
        {"symbol": symbol, "date": day, "from": clock_time(first), "minutes": length}
        for (symbol, day), mask in _presence(_prepared(bars)).items()
        for first, length in _runs(mask)
    ]
    return pd.DataFrame(rows, columns=["symbol", "date", "from", "minutes"])


def gaps(bars: pd.DataFrame) -> pd.DataFrame:
    """Return per symbol-day with a gap: missing minutes, runs, the longest run and its start."""
    runs = gap_runs(bars)
    if runs.empty:
        columns = ["missing", "runs", "longest", "longest_from"]
        empty = pd.DataFrame(columns=["symbol", "date", *columns])
        return empty.set_index(["symbol", "date"])
    longest = runs.loc[runs.groupby(["symbol", "date"], sort=True)["minutes"].idxmax()]
    table = runs.groupby(["symbol", "date"], sort=True).agg(
        missing=("minutes", "sum"), runs=("minutes", "size")
    )
    table["longest"] = longest.set_index(["symbol", "date"])["minutes"]
    table["longest_from"] = longest.set_index(["symbol", "date"])["from"]
    return table


def _returns(bars: pd.DataFrame) -> pd.DataFrame:
    """Return the 1m log returns within each day, with each symbol's robust z-score."""
    frame = _prepared(bars)
    frame["prev_close"] = frame.groupby(["symbol", "date"], sort=False)["close"].shift(1)
    frame = frame.dropna(subset=["prev_close"]).reset_index(drop=True)
    frame["ret"] = np.log(frame["close"] / frame["prev_close"])
    by_symbol = frame.groupby("symbol", sort=False)["ret"]
    centre = by_symbol.transform("median")
    deviation = (frame["ret"] - centre).abs()
    sigma = MAD_TO_SIGMA * deviation.groupby(frame["symbol"], sort=False).transform("median")
    frame["robust_sigma"] = sigma
    frame["z"] = (frame["ret"] - centre) / sigma.where(sigma > 0)
    return frame


def return_stats(bars: pd.DataFrame, k: float = 6.0) -> pd.DataFrame:
    """Return per symbol: the 1m returns, their std and robust sigma, the outliers beyond ``k``."""
    _check_k(k)
    frame = _returns(bars)
    frame["outlier"] = frame["z"].abs() > k
    return frame.groupby("symbol", sort=True).agg(
        returns=("ret", "size"),
        std=("ret", "std"),
        robust_sigma=("robust_sigma", "first"),
        max_abs_z=("z", lambda z: z.abs().max()),
        outliers=("outlier", "sum"),
    )


def outliers(bars: pd.DataFrame, k: float = 6.0) -> pd.DataFrame:
    """Return the 1m bars whose log return is beyond ``k`` robust sigmas, largest first."""
    _check_k(k)
    frame = _returns(bars)
    flagged = frame.loc[frame["z"].abs() > k]
    flagged = flagged.assign(abs_z=flagged["z"].abs()).sort_values(
        ["abs_z", "symbol", "bar_ts"], ascending=[False, True, True], kind="stable"
    )
    columns = ["symbol", "bar_ts", "prev_close", "close", "ret", "z"]
    return flagged.loc[:, columns].reset_index(drop=True)


def _check_k(k: float) -> None:
    if not k > 0:
        raise InvalidValueError(f"k {k!r} must be a positive number of sigmas")


def volume_profile(bars: pd.DataFrame, minutes: int = 15) -> pd.DataFrame:
    """Return the mean share (%) of the day's volume in each ``minutes`` slot, per symbol.

    Rows are the slots' IST start times (``09:15`` ...); one column per symbol and ``mean``,
    the symbols' average. Each day's shares sum to 100 per symbol.
    """
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 75:
        raise InvalidValueError(f"minutes {minutes!r} must be an int in 1..75")
    frame = _prepared(bars)
    frame["slot"] = frame["minute"] // minutes * minutes
    per_day = frame.groupby(["symbol", "date", "slot"], sort=True)["volume"].sum()
    day_total = per_day.groupby(level=["symbol", "date"]).transform("sum")
    share = (100.0 * per_day / day_total.where(day_total > 0)).rename("share").reset_index()
    slots = range(0, SESSION_MINUTES, minutes)
    grid = pd.MultiIndex.from_product(
        [sorted(share["symbol"].unique()), sorted(share["date"].unique()), slots],
        names=["symbol", "date", "slot"],
    )
    # A slot with no bar on a day held 0 % of that day's volume.
    full = share.set_index(["symbol", "date", "slot"])["share"].reindex(grid, fill_value=0.0)
    table = full.groupby(level=["slot", "symbol"]).mean().unstack("symbol")
    table["mean"] = table.mean(axis=1)
    table.index = pd.Index([clock_time(int(s)) for s in table.index], name="slot")
    table.columns.name = None
    return table
