"""Helpers for the health tests: real stores written by their writers, a canned ingest server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pixity.domain import (
    Bar,
    Bias,
    DayPnl,
    FeedState,
    FeedStatus,
    RunnerState,
    RunnerStatus,
    Signal,
    SignalState,
    SignalType,
)
from pixity.markettime import format_at, ist
from pixity.stores import ConfigStore, MarketStore, PaperStore, SignalStore, StorePaths
from pixity.stores.config import SessionStatus
from pixity.stores.sqlite import SqliteWriter

SYM = "NSE_EQ|INE155A01022"
SYM2 = "NSE_EQ|INE002A01018"
STRATEGY = "pixityAI_meta"
DAY = "2025-06-02"  # a Monday, a trading day
T0 = ist(2025, 6, 2, 9, 15)
NOW = ist(2025, 6, 2, 10, 0)  # the fixed "now" of most tests: market open
LAST_RUNNER_UPDATE = ist(2025, 6, 2, 9, 55)  # five minutes before NOW

HEALTHY_INGEST: dict[str, Any] = {
    "status": "ok",
    "reasons": [],
    "feed_connected": True,
    "last_tick_age_s": 0.42,
    "ticks_per_s": 37.5,
    "ticks_total": 81234,
    "ticks_rejected": {"stale_ltt": 3, "bad_price": 1},
    "flush_failures": 0,
    "flushes_total": 901,
    "last_flush_ms": 4.25,
    "last_flush_at": "2025-06-02T04:29:59+00:00",
    "buffer_depth": 12,
    "buffer_full": False,
    "reconnects": 1,
    "wal_bytes": 4096,
    "watchdog": "ok",
}


def runner(symbol: str = SYM, status: RunnerStatus = RunnerStatus.RUNNING) -> RunnerState:
    """Return a runner state of ``symbol`` with ``status``."""
    return RunnerState(
        symbol=symbol,
        strategy_id=STRATEGY,
        timeframe="15m",
        current_bias=Bias.BUY,
        signal_state=SignalState.IDLE,
        last_bar_ts=T0 + timedelta(minutes=30),
        status=status,
        last_error="model file missing" if status is RunnerStatus.ERROR else None,
    )


def signal(minute: int, symbol: str = SYM) -> Signal:
    """Return a BUY signal on the 15m bar ``minute`` minutes after 09:15."""
    return Signal.create(
        strategy_id=STRATEGY,
        symbol=symbol,
        timestamp=T0 + timedelta(minutes=minute),
        signal_type=SignalType.BUY,
        confidence=0.8,
    )


def backdate(store: SqliteWriter, table: str, column: str, at: datetime, where: str = "") -> None:
    """Set ``column`` (a UTC ``*_at`` column) of ``table``'s rows to ``at``, as if written then."""
    sql = f"UPDATE {table} SET {column} = ? {where}"
    with store.transaction(f"backdate {table}") as conn:
        conn.execute(sql, (format_at(at),))


def write_market(paths: StorePaths) -> None:
    """Write a live buffer with two 1m bars and a connected feed, as ingest does."""
    bars = [
        Bar(
            symbol=SYM,
            ts=T0 + timedelta(minutes=m),
            minutes=1,
            open=100.0,
            high=101.0,
            low=99.5,
            close=100.5,
            volume=1200,
            tick_count=9,
            closed=True,
        )
        for m in range(2)
    ]
    with MarketStore(paths.market) as store:
        store.write_batch([], bars)
        store.upsert_feed_status(
            FeedStatus(
                feed="upstox",
                state=FeedState.CONNECTED,
                last_tick_ts=T0 + timedelta(minutes=1, seconds=30),
                last_message_at=NOW,
                reconnects=0,
                last_error=None,
            )
        )


def write_live_session(
    paths: StorePaths,
    *,
    statuses: tuple[RunnerStatus, ...] = (RunnerStatus.RUNNING, RunnerStatus.RUNNING),
    runner_update: datetime = LAST_RUNNER_UPDATE,
    killed: bool = False,
    late_bars: int = 0,
) -> None:
    """Write signals.db, config.db and paper.db as the live session does, dated before NOW."""
    with SignalStore(paths.signals) as store:
        store.save_signal(signal(0))
        store.save_signal(signal(15))
        backdate(store, "signals", "created_at", NOW - timedelta(minutes=20))
        # One signal from two days ago: outside the last day.
        store.save_signal(signal(0, SYM2))
        where = f"WHERE symbol = '{SYM2}'"
        backdate(store, "signals", "created_at", NOW - timedelta(days=2), where)
    with ConfigStore(paths.config) as store:
        for symbol, status in zip((SYM, SYM2), statuses, strict=False):
            store.upsert_runner_state(runner(symbol, status))
        store.upsert_session_status(
            SessionStatus(session_date=date.fromisoformat(DAY), run_id="t1", status="RUNNING", bars_1m=90,
                          bars_15m=12, late_bars=late_bars, signals=2)
        )  # fmt: skip
        backdate(store, "runner_state", "updated_at", runner_update)
    with PaperStore(paths.paper) as store:
        store.upsert_day_pnl(
            DayPnl(
                session_date=DAY,
                realised=-5100.0 if killed else 1250.5,
                unrealised=-20.25,
                costs=61.75,
                killed=killed,
                kill_reason="daily loss 5181.50 reached limit 5000" if killed else None,
            )
        )


def write_all(paths: StorePaths, **session: Any) -> None:
    """Write every store."""
    write_market(paths)
    write_live_session(paths, **session)


def free_port() -> int:
    """Return a loopback port that nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class CannedIngest:
    """What the canned ingest server answers to ``GET /health``."""

    body: bytes
    status: HTTPStatus = HTTPStatus.OK
    requests: int = 0


@contextmanager
def canned_ingest(
    reply: dict[str, Any] | bytes, status: HTTPStatus = HTTPStatus.OK
) -> Iterator[tuple[int, CannedIngest]]:
    """Serve ``reply`` at ``/health`` on 127.0.0.1 (a free port) in a thread; yield the port."""
    body = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
    canned = CannedIngest(body, status)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            canned.requests += 1
            found = self.path == "/health"
            self.send_response(canned.status if found else HTTPStatus.NOT_FOUND)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(canned.body) if found else 0))
            self.end_headers()
            if found:
                self.wfile.write(canned.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1], canned
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def silent_listener() -> Iterator[int]:
    """Listen on a loopback port and never answer (connections wait in the backlog)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def store_files(paths: StorePaths) -> dict[str, tuple[bytes, int]]:
    """Return each existing store file's bytes and modification time (ns)."""
    stores = (paths.market, paths.signals, paths.config, paths.paper)
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in stores if p.exists()}


def wal_sizes(paths: StorePaths) -> dict[str, int]:
    """Return the size of each store's write-ahead log, where there is one."""
    stores = (paths.market, paths.signals, paths.config, paths.paper)
    wals = [Path(f"{p}-wal") for p in stores]
    return {wal.name: wal.stat().st_size for wal in wals if wal.exists()}
