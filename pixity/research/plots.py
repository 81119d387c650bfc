"""Matplotlib figures of the research notebooks: frames in, a ``Figure`` out.

Each figure is made with pyplot (which, in a notebook, loads the inline backend that displays a
returned figure) and closed before it is returned, so a cell shows it once, as its result,
and a loop of plots does not keep figures alive.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from pixity.errors import InvalidValueError
from pixity.frames import conform_bars_frame
from pixity.markettime import SESSION_MINUTES, SESSION_OPEN
from pixity.research.data import as_date
from pixity.research.quality import clock_time

_OPEN_MINUTE = SESSION_OPEN.hour * 60 + SESSION_OPEN.minute


def _done(fig: Figure) -> Figure:
    fig.tight_layout()
    plt.close(fig)
    return fig


def day_close(
    bars: pd.DataFrame, symbol: str | None = None, day: date | str | None = None
) -> Figure:
    """Plot one symbol's 1m close and volume on one day.

    ``symbol`` None or ``""`` is the first symbol; ``day`` (a date or ``YYYY-MM-DD``) None or
    ``""`` is the symbol's last day.
    """
    frame = conform_bars_frame(bars)
    if frame.empty:
        raise InvalidValueError("no bars to plot")
    symbol = symbol or str(sorted(frame["symbol"].unique())[0])
    mine = frame.loc[frame["symbol"] == symbol]
    local = mine["bar_ts"].dt.tz_convert("Asia/Kolkata")
    day = as_date(day) if day else local.dt.date.max()
    mine = mine.loc[(local.dt.date == day).to_numpy()]
    if mine.empty:
        raise InvalidValueError(f"no bars of {symbol} on {day}")
    local = mine["bar_ts"].dt.tz_convert("Asia/Kolkata")
    minutes = (local.dt.hour * 60 + local.dt.minute - _OPEN_MINUTE).to_numpy()
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot(minutes, mine["close"], linewidth=1.0)
    top.set_title(f"{symbol} on {day}: 1m close")
    top.set_ylabel("close (INR)")
    bottom.bar(minutes, mine["volume"], width=1.0, color="grey")
    bottom.set_ylabel("volume")
    bottom.set_xlabel("IST")
    ticks = [0, *range(45, SESSION_MINUTES, 60), SESSION_MINUTES]  # 09:15, 10:00 ... 15:30
    bottom.set_xticks(ticks, [clock_time(m) for m in ticks])
    return _done(fig)


def volume_profile(profile: pd.DataFrame) -> Figure:
    """Plot ``quality.volume_profile``: each symbol's share of the day's volume by slot."""
    fig, ax = plt.subplots(figsize=(10, 4))
    slots = list(range(len(profile)))
    for column in profile.columns:
        is_mean = column == "mean"
        ax.plot(
            slots,
            profile[column],
            label=str(column),
            linewidth=2.5 if is_mean else 1.0,
            color="black" if is_mean else None,
            alpha=1.0 if is_mean else 0.6,
        )
    step = max(1, len(slots) // 13)
    ax.set_xticks(slots[::step], [str(s) for s in profile.index[::step]], rotation=45)
    ax.set_title("intraday volume profile: share of the day's volume per slot")
    ax.set_ylabel("% of the day's volume")
    ax.set_xlabel("slot start (IST)")
    ax.legend(fontsize="small")
    return _done(fig)


def reliability(table: pd.DataFrame) -> Figure:
    """Plot ``meta.reliability_table``: observed rate against mean predicted probability."""
    fig, ax = plt.subplots(figsize=(5, 5))
    top = float(max(table["mean_predicted"].max(), table["observed"].max(), 0.1)) * 1.1
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="perfect calibration")
    ax.plot(table["mean_predicted"], table["observed"], marker="o", label="walk-forward")
    for x, y, n in zip(table["mean_predicted"], table["observed"], table["n"], strict=True):
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, 4), fontsize="small")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate of the target first")
    ax.set_title("reliability (out of sample)")
    ax.legend(fontsize="small")
    return _done(fig)


def equity_curves(curves: Mapping[str, pd.DataFrame]) -> Figure:
    """Plot ``backtest.equity_frame`` curves (``ts``, ``equity``) by name, one 15m step a point.

    Session days follow one another without the nights between them; ticks mark each day.
    """
    fig, ax = plt.subplots(figsize=(10, 4))
    days: list[tuple[int, str]] = []
    for name, curve in curves.items():
        last = curve.drop_duplicates("ts", keep="last").reset_index(drop=True)
        ax.plot(range(len(last)), last["equity"], label=name, linewidth=1.2)
        if not days and not last.empty:
            day = last["ts"].dt.tz_convert("Asia/Kolkata").dt.date
            first = day.ne(day.shift()).to_numpy().nonzero()[0]
            days = [(int(i), str(day.iloc[i])) for i in first]
    if days:
        step = max(1, len(days) // 10)
        ax.set_xticks([i for i, _ in days[::step]], [d for _, d in days[::step]], rotation=45)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_title("equity: cumulative net P&L after charges")
    ax.set_ylabel("INR")
    ax.legend(fontsize="small")
    return _done(fig)
