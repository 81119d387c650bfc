"""Backtest speed: 1m bars per second through ``pixity.backtest`` against a bare read of the lake.

Both sides go over the same history lake:

- the bare loop, in one process, only reads each day's 1m bars of every symbol from the Parquet lake into
  NumPy columns (``read_day_bars``, the fastest read there is: every column of every bar
  decoded, no Python object per bar) and counts them. It is the limit: no backtest can be
  faster than reading its bars;
- the backtest reads the same bars plus each day's warm-up days, resamples them to 15m,
  warms fresh runners on the warm-up days, and runs the strategy behind its gate and the
  paper broker through the day, exactly as a live session does (its fast path hands the
  core and the broker only the events that can change something; the tests check it equals
  the bar-by-bar path). The strategies' modules are imported before either side is timed.
  It runs its days in worker processes (``run_backtest``'s ``workers``, by default one per
  CPU), as ``pixity backtest`` does; the output says how many. The bare read stays in one
  process, so the ratio compares a backtest on every CPU with a read on one.

The lake is built from a few seeded sample-market days, repeated over the calendar (the sample
market makes ticks and is too slow to generate a year of 50 symbols for a benchmark).
Goal (the issue): >= 1,000,000 1m bars/s end to end.

Both sides are timed on the wall clock (the figures) and on the CPU clock (shown too: on a
shared machine the wall clock also counts the time other processes had the CPU), the
backtest's CPU being that of its process and of its worker processes together.

Run: ``.venv/bin/python bench/backtest.py [--symbols N] [--days D] [--workers W] [--quick]``
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

from pixity.backtest import run_backtest
from pixity.live.config import SessionConfig
from pixity.markettime import nse_calendar
from pixity.sample import SampleMarket
from pixity.stores.lake import read_day_bars, write_bars
from pixity.strategies import available

FIRST = date(2024, 6, 3)
DISTINCT = 6  # sample days generated; the rest of the calendar repeats them


def keys(n: int) -> list[str]:
    return [f"NSE_EQ|INE{i:03d}A01010" for i in range(n)]


def build_lake(root: Path, symbols: list[str], days: int) -> list[date]:
    """Write ``days`` trading days of 1m bars for ``symbols`` (plus 5 days of warm-up)."""
    calendar = nse_calendar()
    dates = calendar.trading_days(FIRST, date(2026, 12, 31))[: days + 5]
    market = SampleMarket(symbols, seed=7)
    samples = [market.bars_frame([d]) for d in dates[:DISTINCT]]
    for i, day in enumerate(dates):
        frame = samples[i % DISTINCT].copy()
        shift = pd.Timestamp(day) - pd.Timestamp(frame["bar_ts"].iloc[0].date())
        frame["bar_ts"] = frame["bar_ts"] + shift
        write_bars(root, frame)
    return dates[5:]


def bare(root: Path, symbols: list[str], dates: list[date]) -> tuple[int, float, float]:
    """Return the bars read, and the wall and CPU seconds it took."""
    start, cpu, count = time.perf_counter(), time.process_time(), 0
    for day in dates:
        bars = read_day_bars(root, symbols, day)
        if bars is None:
            raise SystemExit(f"the lake's {day} is not plain 1m bars")
        count += bars.rows
    return count, time.perf_counter() - start, time.process_time() - cpu


def backtest(
    root: Path, symbols: list[str], dates: list[date], workers: int | None
) -> tuple[int, float, float, int, int]:
    """Return the bars backtested, the wall and CPU seconds it took (its worker processes'
    included), the fills and the number of processes that ran the days."""
    config = SessionConfig.from_params(
        {"symbols": symbols, "strategies": ["ref_ema_cross"], "max_capital": 1e7,
         "max_daily_loss": 1e6, "data_dir": root, "run_id": "bench"}
    )  # fmt: skip
    start, cpu = time.perf_counter(), _cpu()
    result = run_backtest(config, dates[0], dates[-1], workers=workers)
    elapsed, cpu = time.perf_counter() - start, _cpu() - cpu
    return sum(d.bars_1m for d in result.days), elapsed, cpu, len(result.fills), result.processes


def _cpu() -> float:
    """Return the CPU seconds of this process and of its children that have ended."""
    try:
        import resource
    except ImportError:  # not on Windows: there it is this process's alone
        return time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--workers", type=int, default=None, help="backtest processes (default: one per CPU)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="4 symbols x 5 days")
    a = parser.parse_args()
    if a.quick:
        a.symbols, a.days = 4, 5
    logging.getLogger("pixity").setLevel(logging.WARNING)
    available()  # import every strategy's module (and what it needs) before timing
    symbols = keys(a.symbols)
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        t0 = time.perf_counter()
        dates = build_lake(root, symbols, a.days)
        built = time.perf_counter() - t0
        n_bare, s_bare, cpu_bare = bare(root, symbols, dates)
        n_bt, s_bt, cpu_bt, fills, processes = backtest(root, symbols, dates, a.workers)
    if n_bare != n_bt:
        raise SystemExit(f"the two sides saw different bars: {n_bare} vs {n_bt}")
    rate_bare, rate_bt = n_bare / s_bare, n_bt / s_bt
    print(f"backtest speed, {a.symbols} symbols x {len(dates)} days = {n_bt:,} 1m bars (lake built in {built:.0f} s)")  # fmt: skip
    print(f"  bare read of the lake: {rate_bare:12,.0f} bars/s ({s_bare:.1f} s wall, {cpu_bare:.1f} s CPU, 1 process)")  # fmt: skip
    print(f"  pixity backtest:       {rate_bt:12,.0f} bars/s ({s_bt:.1f} s wall, {cpu_bt:.1f} s CPU, {fills:,} fills, {processes} process{'es' if processes > 1 else ''})")  # fmt: skip
    print(f"  ratio backtest / bare read: {rate_bt / rate_bare:.3f}")
    print(f"  goal >= 1,000,000 bars/s end to end: {'PASS' if rate_bt >= 1e6 else 'MISS'}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"  machine: {platform.machine()}, {os.cpu_count()} CPUs, load {load:.1f}, python {platform.python_version()}")  # fmt: skip


if __name__ == "__main__":
    main()
