"""A process of the market.db load test: ``writer`` or ``reader``, for some seconds.

Run as ``python store_stress_worker.py ROLE DB SECONDS``; prints one JSON line of results.
An exception ends the process with a traceback and a non-zero exit status, which the test sees.
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pixity.domain import Bar, Tick
from pixity.markettime import from_epoch_ms, ist, to_epoch_ms
from pixity.stores import MarketReader, MarketStore

SYMBOLS = [f"NSE_EQ|INE00{i}A01018" for i in range(4)]
BATCH_EVERY_S = 0.05
TICKS_PER_SYMBOL = 25  # 4 symbols x 25 = 100 ticks a batch, 2,000 a second
BATCHES_PER_BAR = 20  # a synthetic 1m bar per second of wall time
T0_MS = to_epoch_ms(ist(2024, 1, 15, 9, 15))


@dataclass
class Forming:
    """The forming bar of one symbol: what the ingest loop keeps in memory."""

    minute: int
    prices: list[float] = field(default_factory=list)
    volume: int = 0

    def bar(self, symbol: str, closed: bool) -> Bar:
        return Bar(
            symbol=symbol,
            ts=from_epoch_ms(T0_MS + self.minute * 60_000),
            minutes=1,
            open=self.prices[0],
            high=max(self.prices),
            low=min(self.prices),
            close=self.prices[-1],
            volume=self.volume,
            tick_count=len(self.prices),
            closed=closed,
        )


def batch(
    k: int, seq: int, price: dict[str, float], forming: dict[str, Forming], rng: random.Random
) -> tuple[list[Tick], list[Bar]]:
    """Return batch ``k``: 25 ticks per symbol, and each symbol's bars it changed."""
    minute = k // BATCHES_PER_BAR
    ticks: list[Tick] = []
    bars: list[Bar] = []
    for symbol in SYMBOLS:
        current = forming[symbol]
        if current.minute != minute:
            bars.append(current.bar(symbol, closed=True))
            current = forming[symbol] = Forming(minute)
        for j in range(TICKS_PER_SYMBOL):
            price[symbol] = max(1.0, round(price[symbol] + rng.choice((-0.05, 0.0, 0.05)), 2))
            qty = rng.randint(1, 50)
            ms = T0_MS + minute * 60_000 + (k % BATCHES_PER_BAR) * 100 + j
            ticks.append(
                Tick(
                    symbol=symbol,
                    ts=from_epoch_ms(ms),
                    price=price[symbol],
                    last_qty=qty,
                    cum_volume=None,
                    volume=qty,
                    seq=seq,
                )
            )
            seq += 1
            current.prices.append(price[symbol])
            current.volume += qty
        bars.append(current.bar(symbol, closed=False))
    return ticks, bars


def write(path: Path, seconds: float) -> dict[str, object]:
    rng = random.Random(7)
    price = dict.fromkeys(SYMBOLS, 100.0)
    forming = {symbol: Forming(0) for symbol in SYMBOLS}
    slowest = 0.0
    added = seq = k = 0
    with MarketStore(path) as store:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            ticks, bars = batch(k, seq, price, forming, rng)
            seq += len(ticks)
            begun = time.monotonic()
            added += store.write_batch(ticks, bars)
            slowest = max(slowest, time.monotonic() - begun)
            k += 1
            # Pace by deadline, so a slow write is made up rather than lowering the rate.
            time.sleep(max(0.0, started + k * BATCH_EVERY_S - time.monotonic()))
        elapsed = time.monotonic() - started
        wal = store.wal_size_bytes()
    return {
        "batches": k,
        "ticks": added,
        "seconds": elapsed,
        "slowest_write_s": slowest,
        "wal_bytes": wal,
    }


def read(path: Path, seconds: float) -> dict[str, object]:
    reads = mismatches = 0
    first_mismatch = None
    max_ticks = 0
    with MarketReader(path) as reader:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            symbol = SYMBOLS[reads % len(SYMBOLS)]
            # One snapshot: the bars and the tick count come from the same commit.
            with reader.snapshot():
                bars = reader.bars_1m(symbols=[symbol])
                # Dwell a moment so that commits land between the two queries: without the
                # snapshot this check fails within seconds.
                time.sleep(0.002)
                count = reader.count_ticks(symbol)
            assert not reader.in_transaction()
            reads += 1
            in_bars = sum(bar.tick_count for bar in bars)
            forming = [bar for bar in bars if not bar.closed]
            if in_bars != count or len(forming) > 1 or (forming and forming[0] is not bars[-1]):
                mismatches += 1
                first_mismatch = first_mismatch or {
                    "symbol": symbol,
                    "ticks": count,
                    "in_bars": in_bars,
                }
            max_ticks = max(max_ticks, count)
            reader.data_version()
            time.sleep(0.003)
    return {
        "reads": reads,
        "mismatches": mismatches,
        "first_mismatch": first_mismatch,
        "max_ticks": max_ticks,
    }


if __name__ == "__main__":
    role, db, duration = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    result = write(db, duration) if role == "writer" else read(db, duration)
    print(json.dumps(result), flush=True)
