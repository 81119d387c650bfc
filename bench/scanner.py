"""Scanner refresh speed: one full refresh of the view model, idle store against a busy one.

A full refresh is ``ScannerView.refresh()`` as the dashboard calls it: the overview table and
the header, four short read-only reads (config.db, market.db, signals.db, paper.db) on
readers kept open between refreshes. It is timed on idle stores and while a writer process
appends ticks and upserts 1m bars in market.db the way ingest does (``MarketStore.write_batch``
every 250 ms, bars from ``TickAggregator``) at about 20,000 ticks/s. The two sides alternate in
rounds (the writer pauses for the idle blocks), so that whatever else runs on the machine
weighs on both alike; they are printed side by side with their ratio. A cold refresh (a new
view each time: every store opened, nothing cached) is printed for reference.

Goals (issue 6): p95 under 50 ms with the writer running, and under 2x the idle p95.

Run: ``.venv/bin/python bench/scanner.py [--symbols N] [--rate R] [--refreshes K] [--quick]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import random
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import numpy as np

from pixity.bars import TickAggregator
from pixity.clock import ManualClock
from pixity.domain import (
    Bar,
    Bias,
    DayPnl,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Position,
    RunnerState,
    RunnerStatus,
    Side,
    Signal,
    SignalState,
    SignalType,
    Tick,
)
from pixity.markettime import from_epoch_ms, ist, to_epoch_ms
from pixity.scanner import ScannerView
from pixity.stores import ConfigStore, MarketStore, PaperStore, SignalStore, StorePaths
from pixity.stores.market import IngestState

DAY = date(2025, 6, 2)
OPEN = ist(2025, 6, 2, 9, 15)
WRITER_START = ist(2025, 6, 2, 12, 0)  # the buffer holds 09:15-11:59 when the writer starts
STRATEGY = "pixityAI_meta"
FLUSH_S = 0.25  # ingest's flush interval
SPEED = 6.0  # market time runs 6x: a 1m bar closes every 10 s of the run


def keys(n: int) -> list[str]:
    return [f"NSE_EQ|INE{i:03d}A01010" for i in range(n)]


def base_price(i: int) -> float:
    return 100.0 + 7.0 * (i % 50)


# ------------------------------------------------------------------ the stores


def write_stores(data: Path, symbols: list[str], seed: int) -> dict[str, int]:
    """Fill the four stores as a live session at 12:00 would have them; return row counts."""
    rng = random.Random(seed)
    paths = StorePaths(data)
    minutes = int((WRITER_START - OPEN).total_seconds() // 60)
    state = IngestState(session_date=DAY, journal_file=f"{DAY}.journal", journal_offset=0,
                        next_seq=0, feed_clock_ms=None)  # fmt: skip
    n_bars = n_signals = 0
    with MarketStore(paths.market) as store:
        for i, symbol in enumerate(symbols):
            price, bars = base_price(i), []
            for m in range(minutes):
                close = round(price * (1 + rng.gauss(0, 0.001)), 2)
                bars.append(Bar(symbol=symbol, ts=OPEN + timedelta(minutes=m), minutes=1,
                                open=price, high=max(price, close) + 0.05,
                                low=min(price, close) - 0.05, close=close, volume=100 + m,
                                tick_count=5, closed=True))  # fmt: skip
                price = close
            store.write_batch([], bars, state=state if i == 0 else None)
            n_bars += len(bars)
    with ConfigStore(paths.config) as config:
        for i, symbol in enumerate(symbols):
            status = RunnerStatus.STALE if i % 97 == 5 else RunnerStatus.RUNNING
            config.upsert_runner_state(RunnerState(
                symbol=symbol, strategy_id=STRATEGY, timeframe="15m",
                current_bias=(Bias.BUY, Bias.SELL, Bias.NEUTRAL)[i % 3],
                signal_state=SignalState.IDLE, last_bar_ts=WRITER_START - timedelta(minutes=15),
                status=status, last_error=None))  # fmt: skip
    with SignalStore(paths.signals) as signals:
        for i, symbol in enumerate(symbols):
            # 20 trading days of history, then today's 15m bars: some fire, most do not.
            for day_back in range(20):
                when = OPEN - timedelta(days=day_back + 3) + timedelta(minutes=15 * (i % 25))
                n_signals += signals.save_signal(_signal(symbol, when, rng))
            for k in range(minutes // 15):
                if rng.random() < 0.3:
                    when = OPEN + timedelta(minutes=15 * k)
                    n_signals += signals.save_signal(_signal(symbol, when, rng))
    with PaperStore(paths.paper) as paper:
        for i, symbol in enumerate(symbols[::3]):
            side = Side.BUY if i % 2 else Side.SELL
            ts = OPEN + timedelta(minutes=15 + i % 100, seconds=1)
            price = base_price(3 * i)
            order = Order(order_id=f"o-{i}", strategy_id=STRATEGY, symbol=symbol, side=side,
                          quantity=10, order_type=OrderType.MARKET, limit_price=None, ts=ts,
                          status=OrderStatus.FILLED, signal_id=None, reason="bench")  # fmt: skip
            paper.save_order(order)
            paper.save_fill(Fill(fill_id=f"f-{i}", order_id=order.order_id, symbol=symbol,
                                 side=side, quantity=10, price=price, ts=ts, costs=2.5))  # fmt: skip
            paper.upsert_position(Position(strategy_id=STRATEGY, symbol=symbol,
                                           quantity=10 if side is Side.BUY else -10,
                                           avg_price=price, realised_pnl=0.0, ts=ts))  # fmt: skip
        paper.upsert_day_pnl(DayPnl(session_date=DAY.isoformat(), realised=120.0,
                                    unrealised=-340.5, costs=410.0, killed=False,
                                    kill_reason=None))  # fmt: skip
    return {"bars": n_bars, "signals": n_signals, "positions": len(symbols[::3])}


def _signal(symbol: str, when: datetime, rng: random.Random) -> Signal:
    kind = (SignalType.BUY, SignalType.SELL, SignalType.EXIT)[rng.randrange(3)]
    return Signal.create(strategy_id=STRATEGY, symbol=symbol, timestamp=when, signal_type=kind,
                         confidence=round(rng.random(), 3))  # fmt: skip


# ------------------------------------------------------------------ the writer process


def writer(path: str, symbols: list[str], rate: float, go: Event, paused: Event, stop: Event,
           out: Any) -> None:  # fmt: skip
    """Write ticks and their 1m bars to market.db at ``rate`` ticks/s while ``go`` is set."""
    rng = np.random.default_rng(1)
    prices = [base_price(i) for i in range(len(symbols))]
    cum = [0] * len(symbols)
    clock = ManualClock(WRITER_START)
    closed: list[Bar] = []
    agg = TickAggregator(minutes=1, on_bar=closed.append, clock=clock)
    per_batch = max(1, round(rate * FLUSH_S))
    step_ms = int(FLUSH_S * SPEED * 1000)
    written, commits, seq, batches, running_s = 0, [], 0, 0, 0.0
    last_ms = to_epoch_ms(WRITER_START)
    with MarketStore(path) as store:
        while not stop.is_set():
            if not go.is_set():
                paused.set()
                go.wait(0.05)
                continue
            paused.clear()
            t0 = done = time.monotonic()
            k = 0
            while go.is_set() and not stop.is_set():
                k += 1  # batch k holds the ticks of the k-th 250 ms since resuming, as ingest
                time.sleep(max(0.0, t0 + k * FLUSH_S - time.monotonic()))
                now_ms = last_ms + step_ms
                ticks = []
                steps = rng.normal(0, 0.0005, per_batch)
                qtys = rng.integers(1, 50, per_batch)
                for j in range(per_batch):
                    s = seq % len(symbols)
                    prices[s] = max(1.0, round(prices[s] * (1 + steps[j]), 2))
                    cum[s] += int(qtys[j])
                    tick = Tick(symbol=symbols[s], ts=from_epoch_ms(last_ms + j * step_ms // per_batch),
                                price=prices[s], last_qty=int(qtys[j]), cum_volume=cum[s],
                                volume=int(qtys[j]), seq=seq)  # fmt: skip
                    agg.on_tick(tick)
                    ticks.append(tick)
                    seq += 1
                clock.set(from_epoch_ms(now_ms))
                agg.on_time()
                bars, closed[:] = [*closed, *agg.forming()], []
                began = time.perf_counter()
                written += store.write_batch(ticks, bars)
                commits.append((time.perf_counter() - began) * 1000)
                done, last_ms, batches = time.monotonic(), now_ms, batches + 1
            running_s += done - t0  # to the last commit of this run
        wal = store.wal_size_bytes()
    out.put({"ticks": written, "secs": running_s, "batches": batches, "wal": wal,
             "commit_p95": float(np.percentile(commits, 95)), "per_batch": per_batch})  # fmt: skip


# ------------------------------------------------------------------ timing


@dataclass
class Timing:
    ms: list[float]  # wall time of each refresh
    cpu: list[float]  # CPU time of this thread in it: the rest is waiting (for a core, a lock)

    def p(self, q: float) -> float:
        return float(np.percentile(self.ms, q))

    def cpu_p(self, q: float) -> float:
        return float(np.percentile(self.cpu, q))

    def add(self, other: Timing) -> None:
        self.ms += other.ms
        self.cpu += other.cpu


def time_refreshes(view: ScannerView, n: int, pause: float, rows: int) -> Timing:
    t = Timing([], [])
    for _ in range(n):
        began, cpu = time.perf_counter(), time.thread_time()
        snap = view.refresh()
        t.ms.append((time.perf_counter() - began) * 1000)
        t.cpu.append((time.thread_time() - cpu) * 1000)
        if snap.errors or len(snap["overview"]) != rows:
            raise RuntimeError(f"refresh went wrong: {snap.errors} {snap.notes}")
        if any(r.in_transaction() for r in view.open_readers().values()):
            raise RuntimeError("a reader held a transaction after a refresh")
        time.sleep(pause)
    return t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--symbols", type=int, default=500)
    p.add_argument("--rate", type=float, default=20_000, help="writer ticks/s")
    p.add_argument("--refreshes", type=int, default=400, help="timed refreshes per side")
    p.add_argument("--rounds", type=int, default=8, help="idle/busy alternations")
    p.add_argument("--pause", type=float, default=0.02, help="s between refreshes")
    p.add_argument("--quick", action="store_true", help="100 symbols, 5,000 ticks/s, 60 refreshes")
    a = p.parse_args()
    if a.quick:
        a.symbols, a.rate, a.refreshes, a.rounds = 100, 5_000, 60, 2
    symbols = keys(a.symbols)
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="pixity-bench-scanner-") as name:
        data = Path(name) / "data"
        t = time.monotonic()
        counts = write_stores(data, symbols, seed=7)
        print(f"{a.symbols} symbols x 1 strategy: {counts['bars']:,} 1m bars, "
              f"{counts['signals']:,} signals, {counts['positions']} positions "
              f"(built in {time.monotonic() - t:.1f} s)")  # fmt: skip
        clock = ManualClock(ist(2025, 6, 2, 12, 5))
        cold = time_cold(data, clock, max(10, a.refreshes // 10), a.pause, a.symbols)
        ctx = mp.get_context("spawn")
        go, paused, stop, out = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Queue()
        market = str(StorePaths(data).market)
        proc = ctx.Process(target=writer, args=(market, symbols, a.rate, go, paused, stop, out))
        proc.start()
        idle, busy = Timing([], []), Timing([], [])
        per_block = max(1, a.refreshes // a.rounds)
        try:
            with ScannerView(data, clock=clock) as view:
                time_refreshes(view, 5, 0.0, a.symbols)  # warm up: the calendar, the caches
                for _ in range(a.rounds):
                    go.clear()
                    if not paused.wait(60):
                        raise RuntimeError("the writer did not pause within 60 s")
                    idle.add(time_refreshes(view, per_block, a.pause, a.symbols))
                    go.set()
                    time.sleep(4 * FLUSH_S)  # let it commit a few batches first
                    busy.add(time_refreshes(view, per_block, a.pause, a.symbols))
        finally:
            stop.set()
            go.set()
        w = out.get(timeout=60)
        proc.join(30)
    report(a, idle, busy, cold, w)


def time_cold(data: Path, clock: ManualClock, n: int, pause: float, rows: int) -> Timing:
    """Time refreshes of a new view each: four stores opened, read in full, closed."""
    t = Timing([], [])
    for _ in range(n + 2):
        began, cpu = time.perf_counter(), time.thread_time()
        with ScannerView(data, clock=clock) as view:
            time_refreshes(view, 1, 0.0, rows)
        t.ms.append((time.perf_counter() - began) * 1000)
        t.cpu.append((time.thread_time() - cpu) * 1000)
        time.sleep(pause)
    return Timing(t.ms[2:], t.cpu[2:])


def report(a: argparse.Namespace, idle: Timing, busy: Timing, cold: Timing, w: dict[str, Any]) -> None:  # fmt: skip
    ok = ("MISS", "PASS")
    rate = w["ticks"] / w["secs"]
    print(f"\none full refresh (overview + header), {len(idle.ms)} timed per side in "
          f"{a.rounds} alternating rounds, {a.pause * 1000:.0f} ms apart")  # fmt: skip
    print(f"{'':38}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}   CPU p50, p95 ms")
    for label, t in (("idle stores", idle), (f"writer at {rate:,.0f} ticks/s", busy),
                     ("cold, idle (new view each time)", cold)):  # fmt: skip
        print(f"{label:38}{t.p(50):8.2f}{t.p(95):8.2f}{max(t.ms):8.2f}   "
              f"{t.cpu_p(50):6.2f}{t.cpu_p(95):7.2f}")  # fmt: skip
    print(f"writer: {w['ticks']:,} ticks in {w['secs']:.1f} s of writing, {w['batches']} batches "
          f"of {w['per_batch']:,} ticks + their bars every {FLUSH_S * 1000:.0f} ms, commit p95 "
          f"{w['commit_p95']:.1f} ms, WAL at the end {w['wal'] / 1e6:.1f} MB")  # fmt: skip
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    ratio = busy.p(95) / idle.p(95)
    print(f"\nratio p95 busy/idle: {ratio:.2f}   (goal < 2.0)    {ok[ratio < 2.0]}")
    print(f"p95 with the writer: {busy.p(95):.2f} ms   (goal < 50 ms)  {ok[busy.p(95) < 50]}")
    if rate < 0.9 * a.rate:
        print(f"note: the writer reached {rate:,.0f} of the {a.rate:,.0f} ticks/s asked for")


if __name__ == "__main__":
    main()
