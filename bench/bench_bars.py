"""Bar building speed: pixity's streaming tick aggregator against a pandas batch resample.

The ingest builds 1m bars tick by tick as they arrive (it cannot wait for the day to end);
pandas' vectorised ``resample`` over the whole day is the fastest batch reference. The ratio
says how much the streaming rule costs; the ticks/s figure must stay far above the 20,000
ticks/s a full watch-list sends at the open.

Run: ``.venv/bin/python bench/bench_bars.py [--symbols N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import date

import pandas as pd

from pixity.bars import TickAggregator
from pixity.clock import ManualClock
from pixity.domain import Bar, Tick
from pixity.markettime import session_open
from pixity.sample import SampleMarket

DAY = date(2025, 6, 2)


def keys(n: int) -> list[str]:
    return [f"NSE_EQ|INE{i:03d}A01010" for i in range(n)]


def pixity_stream(ticks: list[Tick]) -> list[Bar]:
    out: list[Bar] = []
    agg = TickAggregator(minutes=1, on_bar=out.append, clock=ManualClock(session_open(DAY)))
    for tick in ticks:
        agg.on_tick(tick)
    agg.close_all()
    return out


def pandas_batch(frame: pd.DataFrame) -> pd.DataFrame:
    grouped = frame.groupby("symbol").resample("1min", on="ts", label="left", closed="left")
    bars = grouped.agg(
        open=("price", "first"),
        high=("price", "max"),
        low=("price", "min"),
        close=("price", "last"),
        volume=("volume", "sum"),
        ticks=("price", "size"),
    )
    return bars[bars["ticks"] > 0]


def best_of(repeat: int, fn, *args):  # type: ignore[no-untyped-def]
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ticks = SampleMarket(keys(args.symbols), seed=1).ticks(DAY)
    frame = pd.DataFrame(
        {
            "symbol": [t.symbol for t in ticks],
            "ts": [t.ts for t in ticks],
            "price": [t.price for t in ticks],
            "volume": [t.volume for t in ticks],
        }
    )
    t_pix, bars = best_of(args.repeat, pixity_stream, ticks)
    t_pd, ref = best_of(args.repeat, pandas_batch, frame)
    assert len(bars) == len(ref), (len(bars), len(ref))
    n = len(ticks)
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}"
    )
    print(
        f"ticks: {n:,} over {args.symbols} symbols, one session; bars: {len(bars):,} (both agree)"
    )
    print(f"pixity streaming TickAggregator: {t_pix:8.3f} s  {n / t_pix:12,.0f} ticks/s")
    print(f"pandas batch groupby+resample:   {t_pd:8.3f} s  {n / t_pd:12,.0f} ticks/s")
    print(f"ratio pixity/pandas time: {t_pix / t_pd:.2f}x")


if __name__ == "__main__":
    main()
