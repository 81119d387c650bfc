"""Live-buffer write speed: batched flushes (what ingest does) against a commit per tick.

The old pipeline committed as ticks came; pixity's ingest flushes ticks and bars in one
transaction at least every 250 ms. This prints both rates on the same machine, same file
system, same data, and their ratio.

Run: ``.venv/bin/python bench/bench_store.py [--ticks N] [--batch B]``
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

from pixity.bars import bars_from_ticks
from pixity.domain import Tick
from pixity.sample import SampleMarket
from pixity.stores import MarketStore, StorePaths

DAY = date(2025, 6, 2)


def run(ticks: list[Tick], batch: int, folder: Path) -> float:
    path = StorePaths(folder).market
    with MarketStore(path) as store:
        start = time.perf_counter()
        for i in range(0, len(ticks), batch):
            chunk = ticks[i : i + batch]
            store.write_batch(chunk, bars_from_ticks(chunk))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ticks", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    keys = [f"NSE_EQ|INE{i:03d}A01010" for i in range(10)]
    ticks = SampleMarket(keys, seed=3).ticks(DAY)[: args.ticks]
    with tempfile.TemporaryDirectory() as tmp:
        t_batch = run(ticks, args.batch, Path(tmp) / "batched")
        t_single = run(ticks, 1, Path(tmp) / "single")
    n = len(ticks)
    print(f"machine: {platform.machine()} python {platform.python_version()}, {n:,} ticks")
    print(f"batched, {args.batch} ticks + their bars per transaction: {n / t_batch:10,.0f} ticks/s")
    print(f"one transaction per tick:                          {n / t_single:10,.0f} ticks/s")
    print(f"ratio batched/single throughput: {t_single / t_batch:.1f}x")


if __name__ == "__main__":
    main()
