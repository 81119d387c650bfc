"""The load test's parts: a tape dense enough for 20,000 ticks/s over 200 keys, warm-up history,
the processes, a sampler, and what the server sent read back from its ``--record`` journal.

Why not the sample market: its 200 keys trade about 1.8 million times a day (4,800 a minute
on average, three times that at the open), so at the speed that gives 20,000 ticks/s (about
250x) the whole day is sent in 90 s, and a session day cannot be longer than 09:15-15:30 (the
ingest rejects ticks outside it, and a feed-server's sample market is one day). Ten minutes at
20,000 ticks/s are 12 million ticks in one day, about 7 times the sample market. So the knob
is the tape's density: ``write_tape`` writes 200 keys trading 20,000/``SPEED`` times per
market second in all (a steady rate, so the feed's rate is steady too), as a Parquet file with
the ``ticks`` table's columns, and ``pixity feed-server --replay`` sends it at ``--speed 36``:
10 minutes of wall time are 09:15-15:15 of market time, 2 minutes are 09:15-10:27.

Prices are random walks on the 0.05 grid around a base of 100-3000 per key, quantities
log-normal around 20,000 rupees, ``vtt`` the running sum of the key's quantities; a key's
rate is 0.5-1.5 times the mean, so every key trades every minute (no runner goes STALE).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
from procs import Proc, get_json, get_text, poll  # the e2e tests' process runner (conftest)
from suite import SOAK

from pixity.feeds.journal import read_journal
from pixity.feeds.upstox_trades import decode_trades
from pixity.frames import IST_TS_DTYPE
from pixity.markettime import ist, nse_calendar, to_epoch_ms
from pixity.stores.lake import write_bars
from pixity.stores.paths import StorePaths

__all__ = ["SOAK", "Proc", "get_json", "get_text", "poll"]

TARGET_RATE = 20_000  # ticks/s the issue asks for
SPEED = 36.0
DAY = date(2025, 6, 2)
OPEN = ist(2025, 6, 2, 9, 15)
KEYS = tuple(f"NSE_EQ|INE{i:03d}A01010" for i in range(200))
# pixityAI_meta as a user runs it, and the reference EMA cross, which fires often: the session
# then writes signals, orders and fills all along, while the readers read them.
STRATEGIES = ("pixityAI_meta", "ref_ema_cross")
TOKEN = "load-test-token-3b9e"
HISTORY_DAYS = 5  # the live session's warm-up reads 5 trading days (pixityAI_meta needs 50 bars)
READERS = 8
READER_INTERVAL_S = 0.5  # twice a scanner kernel's pace (it refreshes every 1 s)
HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------- the market


def _base_ticks(seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 1])
    ticks: np.ndarray = np.rint(np.exp(rng.uniform(np.log(100), np.log(3000), len(KEYS))) * 20)
    return ticks.astype(np.int64)


def write_tape(path: Path, minutes: float, *, seed: int = 7) -> int:
    """Write ``minutes`` of market from 09:15 at 20,000/SPEED ticks per market second; return n."""
    rng = np.random.default_rng([seed, 2])
    start, span = to_epoch_ms(OPEN), int(minutes * 60_000)
    weights = rng.uniform(0.5, 1.5, len(KEYS))
    counts = rng.poisson(weights / weights.sum() * TARGET_RATE / SPEED * span / 1000)
    n = int(counts.sum())
    key = np.repeat(np.arange(len(KEYS), dtype=np.int32), counts)
    # Sorted within each key (key-major): the walks and running sums are per key.
    ltt = start + 1 + np.sort(rng.integers(0, span - 1, n) + key.astype(np.int64) * span) % span
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    steps = rng.choice(np.array([-1, 0, 1]), n, p=[0.2, 0.6, 0.2])
    walk = np.cumsum(steps) - np.repeat(np.cumsum(steps)[first] - steps[first], counts)
    base = np.repeat(_base_ticks(seed), counts)
    price = np.maximum(base + walk, 20) / 20
    qty = np.maximum(np.rint(np.exp(rng.normal(np.log(20_000 * 20 / base), 1.0))), 1)
    qty = qty.astype(np.int64)
    run = np.cumsum(qty)
    vtt = run - np.repeat(run[first] - qty[first], counts)
    order = np.argsort(ltt, kind="stable")
    symbols = pa.DictionaryArray.from_arrays(pa.array(key[order]), pa.array(KEYS))
    table = pa.table({"symbol": symbols, "ltt": ltt[order], "ltp": price[order],
                      "ltq": qty[order], "vtt": vtt[order], "seq": np.arange(n),
                      "volume": qty[order]})  # fmt: skip
    pq.write_table(table, path)
    return n


def write_history(data: Path, *, seed: int = 7) -> int:
    """Write ``HISTORY_DAYS`` days of 1m bars before ``DAY`` to the lake, ending at each base."""
    rng = np.random.default_rng([seed, 3])
    calendar, days, day = nse_calendar(), list[date](), DAY
    for _ in range(HISTORY_DAYS):
        day = calendar.previous_trading_day(day)
        days.insert(0, day)
    minutes = pd.date_range("09:15", periods=375, freq="1min").time
    stamps = [datetime.combine(d, m) for d in days for m in minutes]
    n, k = len(stamps), len(KEYS)
    steps = rng.normal(0, 0.0012, (k, n))
    close = _base_ticks(seed)[:, None] * np.exp(np.cumsum(steps[:, ::-1], axis=1)[:, ::-1] - steps)
    close = np.maximum(np.rint(close), 20)
    open_ = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    wick = np.rint(np.abs(rng.normal(0, 2, (2, k, n))))
    frame = pd.DataFrame({
        "symbol": np.repeat(KEYS, n),
        "bar_ts": pd.DatetimeIndex(stamps * k).tz_localize("Asia/Kolkata").astype(IST_TS_DTYPE),
        "open": (open_ / 20).ravel(), "close": (close / 20).ravel(),
        "high": (np.maximum(open_, close) + wick[0]).ravel() / 20,
        "low": np.maximum(np.minimum(open_, close) - wick[1], 1).ravel() / 20,
        "volume": rng.integers(1_000, 50_000, k * n), "tick_count": rng.integers(20, 300, k * n),
    })  # fmt: skip
    write_bars(data, frame)
    return len(frame)


# ---------------------------------------------------------------- the processes


@dataclass
class Run:
    """The parts of one load run, and where they keep their files."""

    tmp: Path
    data: Path
    server: Proc
    ingest: Proc | None = None
    live: Proc | None = None
    readers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    health: str = ""

    @property
    def record(self) -> Path:
        return self.tmp / "sent.journal"

    @property
    def stats(self) -> Path:
        return self.tmp / "feed-stats.json"

    @property
    def journal(self) -> Path:
        return StorePaths(self.data).market.parent / "journal" / f"{DAY}.journal"

    @property
    def stop_file(self) -> Path:
        return self.tmp / "readers.stop"

    def reader_out(self, i: int) -> Path:
        return self.tmp / f"reader{i}.json"


def start_server(tmp: Path, tape: Path) -> Run:
    """Start the feed-server on ``tape`` (it loads while the rest starts)."""
    server = Proc(
        ["feed-server", "--replay", str(tape), "--symbols", *KEYS, "--port", "0",
         "--speed", f"{SPEED:g}", "--start", f"{DAY} 09:15", "--record", str(tmp / "sent.journal"),
         "--stats", str(tmp / "feed-stats.json"), "--data-dir", str(tmp / "fs")],
        tmp / "feed-server.log",
    )  # fmt: skip
    return Run(tmp, tmp / "data", server)


def start_readers(run: Run) -> None:
    """Start the reader processes; they wait for the stores and for the ingest's port."""
    for i in range(READERS):
        log = (run.tmp / f"reader{i}.log").open("w")
        cmd = [sys.executable, str(HERE / "load_reader.py"), str(run.data),
               str(run.tmp / "health.port"), str(run.stop_file), str(run.reader_out(i)), str(i),
               str(READER_INTERVAL_S)]  # fmt: skip
        run.readers.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))


def start_live(run: Run) -> None:
    """Start ``pixity live`` on all 200 keys; it waits for the live buffer."""
    run.live = Proc(
        ["live", "--mode", "paper", "--symbols", *KEYS, "--strategies", *STRATEGIES,
         "--max-capital", "100000", "--max-daily-loss", "5000", "--data-dir", str(run.data),
         "--run-id", "load"],
        run.tmp / "live.log",
    )  # fmt: skip


def start_ingest(run: Run) -> None:
    """Start the ingest on the server's URL and tell the readers its health port."""
    url = run.server.wait_for(r"(ws://127\.0\.0\.1:\d+/v3/feed/market-data-feed)", 120).group(1)
    run.ingest = Proc(
        ["ingest", "--feed", "upstox", "--feed-url", url, "--symbols", *KEYS,
         "--data-dir", str(run.data), "--health-port", "0"],
        run.tmp / "ingest.log",
        env={"UPSTOX_ACCESS_TOKEN": TOKEN},
    )  # fmt: skip
    run.health = run.ingest.wait_for(r"(http://127\.0\.0\.1:\d+)/health", 60).group(1)
    (run.tmp / "health.port").write_text(run.health.rsplit(":", 1)[1])


def stop_readers(run: Run) -> list[dict[str, Any]]:
    """Stop the readers (stop file, bounded wait) and return what each counted."""
    run.stop_file.touch()
    codes = []
    for proc in run.readers:
        try:
            codes.append(proc.wait(60))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(proc.wait(10))
    assert codes == [0] * len(codes), f"reader exit codes {codes}"
    return [json.loads(run.reader_out(i).read_text()) for i in range(len(run.readers))]


def abort(run: Run) -> None:
    """Stop every part after a failure, without hiding it."""
    run.stop_file.touch()
    for proc in (run.live, run.server, run.ingest):
        if proc is not None:
            with suppress(AssertionError):
                proc.stop(timeout=30)
    for reader in run.readers:
        if reader.poll() is None:
            reader.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                reader.wait(10)
        if reader.poll() is None:
            reader.kill()


# ---------------------------------------------------------------- sampling


def _rss(pid: int) -> tuple[int, int]:
    """Return the RSS of ``pid`` and its descendants in all, and the largest one's, in bytes."""
    try:
        top = psutil.Process(pid)
        procs = [top, *top.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    sizes = []
    for proc in procs:
        with suppress(psutil.Error):
            sizes.append(proc.memory_info().rss)
    return sum(sizes), max(sizes, default=0)


def cpu_seconds(pid: int) -> float:
    """Return the CPU seconds used so far by ``pid`` and its live descendants."""
    total = 0.0
    with suppress(psutil.Error):
        top = psutil.Process(pid)
        for proc in (top, *top.children(recursive=True)):
            with suppress(psutil.Error):
                t = proc.cpu_times()
                total += t.user + t.system
    return total


def _runners(data: Path) -> dict[str, Any] | None:
    db = StorePaths(data).config
    if not db.exists():
        return None
    sql = ("SELECT COUNT(*), MIN(last_bar_ts), MAX(last_bar_ts), "
           "SUM(status = 'RUNNING'), SUM(status = 'STALE') FROM runner_state")  # fmt: skip
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            n, low, high, running, stale = conn.execute(sql).fetchone()
    except sqlite3.Error as exc:
        return {"error": str(exc)}
    return {"n": n, "min_bar": low, "max_bar": high, "running": running, "stale": stale}


def sample(run: Run) -> dict[str, Any]:
    """Take one sample: RSS, the server's counters, the ingest's health, the runners."""
    assert run.ingest is not None and run.live is not None
    row: dict[str, Any] = {"t": time.monotonic(), "wall_ns": time.time_ns()}
    row["ingest_rss"] = _rss(run.ingest.popen.pid)[0]
    row["live_rss"], row["kernel_rss"] = _rss(run.live.popen.pid)
    row["server_rss"] = _rss(run.server.popen.pid)[0]
    with suppress(OSError, ValueError):
        stats = json.loads(run.stats.read_text())
        row["server"] = {k: stats.get(k) for k in ("ticks_due", "frames_sent", "sim_now_ms",
                                                  "pumps_behind", "slow_clients_dropped")}  # fmt: skip
    try:
        h = get_json(f"{run.health}/health", timeout=5)
        row["health"] = {k: h.get(k) for k in (
            "status", "reasons", "feed_clock", "ticks_total", "flushes_total", "flush_failures",
            "last_flush_ms", "buffer_depth", "wal_bytes", "reconnects", "ticks_per_s")}  # fmt: skip
    except OSError as exc:
        row["health_error"] = str(exc)
    row["runners"] = _runners(run.data)
    row["load1"] = os.getloadavg()[0]
    row["cpu_pct"] = psutil.cpu_percent()
    return row


def watch(run: Run, seconds: float, every_s: float = 1.0) -> Iterator[dict[str, Any]]:
    """Yield a sample every ``every_s`` for ``seconds``; fail at once if a part has died."""
    end = time.monotonic() + seconds
    while (now := time.monotonic()) < end:
        for name, proc in (("feed-server", run.server), ("ingest", run.ingest), ("live", run.live)):
            assert proc is not None and proc.popen.poll() is None, (
                f"{name} exited {proc and proc.popen.poll()} mid-run:\n"
                + "".join(proc.lines[-40:] if proc else [])
            )
        dead = [i for i, r in enumerate(run.readers) if r.poll() is not None]
        assert not dead, f"readers {dead} exited mid-run"
        yield sample(run)
        time.sleep(max(0.0, every_s - (time.monotonic() - now)))


# ---------------------------------------------------------------- what was sent


@dataclass
class Sent:
    """What the server's ``--record`` journal says it sent."""

    frames: int = 0
    trades: int = 0
    by_key: Counter[str] = field(default_factory=Counter)
    per_second: Counter[int] = field(default_factory=Counter)
    # ltt, ltp, ltq, vtt of the sample keys' trades (ltt and ltp are never None here)
    sample: dict[str, list[tuple[int | None, float | None, int, int | None]]] = field(
        default_factory=dict
    )


def read_sent(record: Path, journal: Path, sample_keys: tuple[str, ...]) -> Sent:
    """Read the record and the ingest's journal side by side: the same frames, in order.

    Every trade entry (an entry with ``ltp`` and ``ltt``) of every frame is counted, by key
    and by the wall second it was sent; the sample keys' trades are kept.
    """
    sent = Sent(sample={k: [] for k in sample_keys})
    for ours, theirs in zip_longest(read_journal(record), read_journal(journal)):
        assert ours is not None and theirs is not None, f"frame {sent.frames}: journals differ in length"  # fmt: skip
        assert ours.payload == theirs.payload, (
            f"frame {sent.frames} differs in the ingest's journal"
        )
        sent.frames += 1
        trades = [e for e in decode_trades(ours.payload).entries if e[1] is not None and e[2] is not None]  # fmt: skip
        if not trades:
            continue
        sent.trades += len(trades)
        sent.by_key.update(e[0] for e in trades)
        sent.per_second[ours.received_ns // 1_000_000_000] += len(trades)
        for key, ltp, ltt, ltq, vtt in trades:
            if key in sent.sample:
                sent.sample[key].append((ltt, ltp, ltq or 0, vtt))
    return sent


def rate_figures(sent: Sent, start_ns: int, end_ns: int, warmup_s: float) -> dict[str, float]:
    """Return the send rate over [start, end): its mean, and after warm-up its mean and 10 s extremes."""
    first, last = start_ns // 10**9 + 1, end_ns // 10**9  # whole seconds only
    per = [sent.per_second.get(s, 0) for s in range(first, last)]
    later = per[int(warmup_s) :]
    windows = [sum(later[i : i + 10]) / 10 for i in range(0, len(later) - 9, 10)]
    return {"mean": round(sum(per) / max(1, len(per))),
            "mean_after_warmup": round(sum(later) / max(1, len(later))),
            "min_10s_after_warmup": round(min(windows, default=0)),
            "max_10s_after_warmup": round(max(windows, default=0))}  # fmt: skip


def log_problems(paths: list[Path]) -> list[str]:
    """Return every ERROR line or traceback in ``paths``."""
    found = []
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            if " ERROR " in line or " CRITICAL " in line or "Traceback" in line:
                found.append(f"{path.name}: {line[:300]}")
    return found


def big_files(run: Run) -> list[Path]:
    """Return the files a passing run need not keep (journals, tape, stores): gigabytes in a soak."""
    market = StorePaths(run.data).market
    return [run.record, run.journal, run.tmp / "tape.parquet", market,
            market.with_name("market.db-wal")]  # fmt: skip
