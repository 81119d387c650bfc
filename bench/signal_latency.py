"""Signal latency: a 15m bar's last tick sent by the feed-server → its signal row readable.

Three processes as in production plus a reader: ``pixity feed-server`` (journals each frame's
send time with ``--record``), ``pixity ingest`` (flushes at least every 250 ms), the live
engine (``pixity.live.LiveEngine``, polling the live buffer every 50 ms, as ``pixity live``
runs it, with a strategy that signals on every 15m bar so that every bar is a sample), and
this process, which polls signals.db read-only every 2 ms and notes when each row appears.

For each signal, two figures: from the send of the last tick inside its bar, and from the send
of the first tick past the bar's end (the tick that closes the bar's last minute). Goal (the
issue): p99 < 500 ms. The limit beside it is the ingest's flush interval plus the engine's poll.

Run: ``.venv/bin/python bench/signal_latency.py [--keys N] [--speed X] [--minutes M] [--quick]``
"""

from __future__ import annotations

import argparse
import bisect
import platform
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from ingest import HEALTH, TOKEN, WS, Proc, feed_server, ingest_cmd, keys, running

from pixity.domain import Bar, Bias, Signal, SignalState, SignalType
from pixity.feeds.journal import read_journal
from pixity.feeds.upstox_wire import decode_frame
from pixity.markettime import IST, bar_end
from pixity.strategies import Decision, register

START = "2025-06-02 09:15"
FLUSH_MS = 250
POLL_MS = 50


class EveryBar:
    """Signal on every bar (BUY, SELL, BUY, ...): every bar is a latency sample."""

    def __init__(self, symbol: str) -> None:
        self.symbol, self.n = symbol, 0

    def on_bar(self, bar: Bar) -> Decision:
        self.n += 1
        kind = SignalType.BUY if self.n % 2 else SignalType.SELL
        signal = Signal.create(
            strategy_id="bench_every_bar", symbol=self.symbol, timestamp=bar.ts,
            signal_type=kind, confidence=0.5,
        )  # fmt: skip
        return Decision(bias=Bias.BUY, state=SignalState.TRIGGERED, signals=(signal,))


class EveryBarSpec:
    strategy_id = "bench_every_bar"
    timeframe_minutes = 15
    warmup_bars = 1

    def create(self, symbol: str) -> EveryBar:
        return EveryBar(symbol)


def engine_role(data: str, n: int, until: str) -> None:
    """Run the live engine until ``until`` (its own process, as the live session is)."""
    from pixity.live.config import SessionConfig
    from pixity.live.engine import LiveEngine
    from pixity.live.stores import SessionStores

    register("bench_every_bar", lambda params: EveryBarSpec())
    config = SessionConfig(
        symbols=tuple(keys(n)), strategies=("bench_every_bar",), max_capital=1e9,
        max_daily_loss=1e9, run_id="bench", data_dir=Path(data),
        until=datetime.strptime(until, "%H:%M").time(), wait_for_feed_s=120,  # noqa: DTZ007
    )  # fmt: skip
    stores = SessionStores(Path(data))
    LiveEngine(config, stores).run()
    stores.close()


def watch(db: Path, engine: Proc, timeout: float) -> dict[str, int]:
    """Return each signal's first-readable wall time (ns), polling every 2 ms."""
    seen: dict[str, int] = {}
    deadline, last = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
                    rows = conn.execute(
                        "SELECT rowid, symbol, bar_ts FROM signals WHERE rowid > ?", (last,)
                    ).fetchall()
            except sqlite3.OperationalError:
                rows = []
            now = time.time_ns()
            for rowid, symbol, bar_ts in rows:
                seen[f"{symbol}@{bar_ts}"] = now
                last = max(last, rowid)
        if engine.popen.poll() is not None:
            return seen
        time.sleep(0.002)
    raise RuntimeError("the engine did not finish in time")


def sent_times(journal: Path) -> tuple[dict[str, tuple[list[int], list[int]]], list[tuple[int, int]]]:  # fmt: skip
    """Return per symbol its ticks' exchange times (ms) and send times (ns), and the frames'
    (feed clock ms, send ns) in send order."""
    ticks: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    frames: list[tuple[int, int]] = []
    for rec in read_journal(journal):
        frame = decode_frame(rec.payload)
        frames.append((frame.current_ts_ms, rec.received_ns))
        for q in frame.quotes:
            if q.ltt_ms is not None and q.ltp is not None:
                ltts, sends = ticks[q.key]
                ltts.append(q.ltt_ms)
                sends.append(rec.received_ns)
    for ltts, sends in ticks.values():  # ticks are sent in exchange-time order per symbol
        order = np.argsort(ltts, kind="stable")
        ltts[:] = [ltts[i] for i in order]
        sends[:] = [sends[i] for i in order]
    return ticks, frames


def latencies(
    seen: dict[str, int],
    sent: tuple[dict[str, tuple[list[int], list[int]]], list[tuple[int, int]]],
) -> tuple[np.ndarray, np.ndarray]:
    """Return, per signal, ms from its bar's last tick sent and from its bar's end on the feed."""
    ticks, frames = sent
    clock = np.maximum.accumulate(np.array([ms for ms, _ in frames], dtype=np.int64))
    sends = np.array([ns for _, ns in frames], dtype=np.int64)
    last_tick, bar_end_ = [], []
    for key, seen_ns in seen.items():
        symbol, bar_ts = key.split("@")
        start = datetime.fromisoformat(bar_ts).astimezone(IST)
        end_ms = int(bar_end(start, 15).timestamp() * 1000)
        ltts, tick_sends = ticks[symbol]
        i = bisect.bisect_left(ltts, end_ms)
        j = int(np.searchsorted(clock, end_ms))
        if i == 0 or j >= len(sends):
            continue  # nothing sent past the bar's end: closed at the end of the run
        last_tick.append((seen_ns - max(tick_sends[:i][-50:])) / 1e6)
        bar_end_.append((seen_ns - sends[j]) / 1e6)
    return np.array(last_tick), np.array(bar_end_)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["main", "engine"], default="main")
    parser.add_argument("--at", nargs="*")
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--minutes", type=int, default=120, help="session minutes from 09:15")
    parser.add_argument("--quick", action="store_true", help="4 keys, 60 minutes at speed 240")
    a = parser.parse_args()
    if a.role == "engine":
        engine_role(a.at[0], int(a.at[1]), a.at[2])
        return
    if a.quick:
        a.keys, a.speed, a.minutes = 4, 240.0, 60
    until = (datetime(2025, 6, 2, 9, 15) + timedelta(minutes=a.minutes)).strftime("%H:%M")  # noqa: DTZ001
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        data, journal = tmp / "data", tmp / "sent.journal"
        server = feed_server(tmp, a.keys, a.speed, START, "--record", str(journal))
        try:
            url = server.wait_for(WS, 120).group(1)
            with running(ingest_cmd(url, a.keys, "full", data), tmp / "ingest.log",
                         {"UPSTOX_ACCESS_TOKEN": TOKEN}) as ing:  # fmt: skip
                ing.wait_for(HEALTH, 60)
                engine = Proc([sys.executable, __file__, "--role", "engine", "--at", str(data),
                               str(a.keys), until], tmp / "engine.log")  # fmt: skip
                seen = watch(
                    data / "signals" / "signals.db", engine, a.minutes * 60 / a.speed + 180
                )
                if engine.popen.returncode != 0:
                    raise SystemExit("engine failed:\n" + "".join(engine.lines[-30:]))
        finally:
            server.stop()
        last, at_end = latencies(seen, sent_times(journal))
    report(a, last, at_end)


def report(a: argparse.Namespace, last: np.ndarray, at_end: np.ndarray) -> None:
    if not len(last):
        raise SystemExit("no signal samples")
    p = {q: (np.percentile(last, q), np.percentile(at_end, q)) for q in (50, 99)}
    limit = FLUSH_MS + POLL_MS
    print(f"signal latency, {a.keys} keys, speed {a.speed:g}, {len(last)} signals (15m bars)")
    print(f"  from the bar's end on the feed's clock: p50 {p[50][1]:7.1f} ms  p99 {p[99][1]:7.1f} ms  max {at_end.max():7.1f} ms")  # fmt: skip
    print(f"  from the bar's last tick sent:          p50 {p[50][0]:7.1f} ms  p99 {p[99][0]:7.1f} ms  max {last.max():7.1f} ms")  # fmt: skip
    print("    (the second includes the rest of the bar after its last trade, / speed)")
    print(
        f"  beside it: ingest flush interval {FLUSH_MS} ms + engine poll {POLL_MS} ms = {limit} ms"
    )
    print(f"  ratio p99 (from the bar's end) / (flush + poll): {p[99][1] / limit:.2f}")
    print(f"  goal p99 < 500 ms, from the bar's end: {'PASS' if p[99][1] < 500 else 'MISS'}; "
          f"from its last tick: {'PASS' if p[99][0] < 500 else 'MISS'}")  # fmt: skip
    print(
        f"  machine: {platform.machine()} {platform.processor() or ''}, python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
