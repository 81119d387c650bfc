"""Helpers for the crash tests: a fixed market, processes killed with SIGKILL, what they left.

A crash is a ``kill -9`` of every process of a component at once (for the live session: the
``pixity live`` launcher, papermill and the notebook's kernel, which runs in a session of its
own and would otherwise go on writing). Where ``strace`` works, the crashed runs go through a
slow disk (each ``pwrite64``, which is how SQLite writes, takes a few ms more), so that a kill
at a random moment lands between any two of the many small writes of a commit, and so inside
a transaction as often as between two.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psutil
from disk_support import strace_problem
from procs import Proc
from suite import SOAK

from pixity.feeds.journal import read_journal, valid_length
from pixity.stores.market import MarketReader
from pixity.stores.paths import StorePaths

__all__ = ["SOAK"]

# Six keys: with two, ref_ema_cross trades once by 11:00; with six, a handful of times, and
# a small daily loss limit is hit mid-morning.
KEYS = (
    "NSE_EQ|INE155A01022", "NSE_EQ|INE118H01025", "NSE_EQ|INE002A01018",
    "NSE_EQ|INE467B01029", "NSE_EQ|INE009A01021", "NSE_EQ|INE040A01034",
)  # fmt: skip
DAY = date(2025, 6, 3)
HISTORY_DAYS = (date(2025, 5, 29), date(2025, 5, 30), date(2025, 6, 2))  # the warm-up's lake
TOKEN = "crash-test-token"

# ------------------------------------------------------------------ processes


def slow_disk_prefix(delay_us: int) -> tuple[list[str], str | None]:
    """Return the command prefix that adds ``delay_us`` to each pwrite64, or [] and why not."""
    problem = strace_problem()
    if problem is not None:
        return [], problem
    return [
        "strace", "-f", "-qq", "--seccomp-bpf", "-o", "/dev/null", "-e", "trace=pwrite64",
        "-e", f"inject=pwrite64:delay_exit={delay_us}",
    ], None  # fmt: skip


class Launched(Proc):
    """``python -m pixity ...`` like ``procs.Proc``, optionally under a command ``prefix``."""

    def __init__(
        self,
        args: Sequence[str],
        log: Path,
        env: dict[str, str] | None = None,
        prefix: Sequence[str] = (),
    ) -> None:
        self.args = list(args)
        self.prefixed = bool(prefix)
        self.log = log
        self.lines: list[str] = []
        self.started = time.monotonic()
        self._file = log.open("w")
        self.popen = subprocess.Popen(
            [*prefix, sys.executable, "-m", "pixity", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``sig`` to the command (not to a prefix such as strace), wait for the exit code."""
        if self.prefixed and self.popen.poll() is None:
            for child in psutil.Process(self.popen.pid).children():
                child.send_signal(sig)  # strace's tracee: it passes the exit code on
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill_all()
                raise AssertionError(f"{self.args[0]} did not exit within {timeout} s") from None
        return super().stop(sig, timeout)

    def saw(self, pattern: str) -> bool:
        """Tell whether an output line so far contains ``pattern``."""
        return any(pattern in line for line in self.lines[:])

    def kill_all(self) -> list[int]:
        """SIGKILL the process and every descendant, deepest first; return the pids killed."""
        try:
            root = psutil.Process(self.popen.pid)
            tree = root.children(recursive=True)
        except psutil.NoSuchProcess:  # it had exited already
            root, tree = None, []
        victims = [*reversed(tree), *([root] if root else [])]
        for proc in victims:
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        self.popen.wait(10)
        _, alive = psutil.wait_procs(tree, timeout=10)
        alive = [p for p in alive if _running(p)]
        assert not alive, f"still running after SIGKILL: {alive}"
        self._reader.join(5)
        self._file.close()
        return [p.pid for p in victims]


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def copy_data(src: Path, dst: Path) -> Path:
    """Copy a data directory (without the ingest's journal) for one run."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("journal"))
    return dst


# ------------------------------------------------------------------ what a crash left


def uncommitted_wal_frames(db: Path) -> int:
    """Return how many frames ``db``'s WAL holds past its last commit: a transaction cut short.

    The WAL's frames of the current generation carry the header's salts; a commit frame has
    the database size after the commit in its header. A killed writer's unfinished
    transaction is the run of valid frames after the last commit frame.
    """
    wal = db.with_name(db.name + "-wal")
    try:
        data = wal.read_bytes()
    except FileNotFoundError:
        return 0
    if len(data) < 32:
        return 0
    page_size = struct.unpack(">I", data[8:12])[0]
    salts = data[16:24]
    frame, offset, since_commit = 24 + page_size, 32, 0
    while offset + frame <= len(data):
        header = data[offset : offset + 24]
        if header[8:16] != salts:
            break
        since_commit = 0 if struct.unpack(">I", header[4:8])[0] else since_commit + 1
        offset += frame
    return since_commit


def wal_stamp(db: Path) -> tuple[int, int] | None:
    """Return the size and mtime of ``db``'s WAL (None without one): did anyone write it?"""
    try:
        stat = db.with_name(db.name + "-wal").stat()
    except FileNotFoundError:
        return None
    return stat.st_size, stat.st_mtime_ns


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalTail:
    """Where the ingest's journal and its store stood when the ingest died."""

    committed: int  # journal offset whose ticks and bars market.db holds
    journaled: int  # end of the journal's last whole record
    torn_bytes: int  # bytes of a record cut short by the kill
    frames_to_replay: int  # whole records past the committed offset


def journal_tail(data: Path) -> JournalTail | None:
    """Return what the next start must replay from the journal (None before any commit)."""
    market = StorePaths(data).market
    if not market.exists():
        return None
    with MarketReader(market) as reader:
        state = reader.ingest_state()
    if state is None:
        return None
    path = journal_path(data)
    journaled = valid_length(path)
    return JournalTail(
        committed=state.journal_offset,
        journaled=journaled,
        torn_bytes=path.stat().st_size - journaled,
        frames_to_replay=sum(1 for _ in read_journal(path, state.journal_offset)),
    )


def journal_path(data: Path) -> Path:
    """Return the ingest's journal of ``DAY``."""
    return StorePaths(data).market.parent / "journal" / f"{DAY.isoformat()}.journal"


def query(db: Path, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """Run one read-only query on ``db`` (no rows when it does not exist yet)."""
    if not db.exists():
        return []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        return conn.execute(sql, params).fetchall()


# ------------------------------------------------------------------ what a session stored


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    """What a live session stored, with the columns that must not depend on a crash."""

    signals: list[tuple[Any, ...]]
    signal_keys_repeated: int  # rows minus distinct (strategy_id, symbol, bar_ts, signal_type)
    orders: list[tuple[Any, ...]]
    fills: list[tuple[Any, ...]]
    fills_per_order_repeated: int  # fills minus distinct order ids
    positions: list[tuple[Any, ...]]
    net_of_fills: dict[str, int]
    day_pnl: list[tuple[Any, ...]]
    risk_events: list[tuple[Any, ...]]
    runners: list[tuple[Any, ...]]

    @property
    def killed(self) -> bool:
        """Tell whether the stored day P&L says the session is killed."""
        return bool(self.day_pnl and self.day_pnl[0][4])

    @property
    def kill_ts(self) -> str | None:
        """Return when the daily loss limit was first hit (market time, as stored)."""
        return min((e[0] for e in self.risk_events if e[1] == "daily_loss_kill"), default=None)


def account(data: Path) -> Account:
    """Read back everything the session stored in ``data``."""
    paths = StorePaths(data)
    signals = query(
        paths.signals,
        "SELECT strategy_id, symbol, bar_ts, signal_type, confidence, status, status_reason,"
        " signal_id FROM signals ORDER BY bar_ts, symbol, signal_type",
    )
    repeated = query(
        paths.signals,
        "SELECT COUNT(*) - COUNT(DISTINCT strategy_id || '|' || symbol || '|' || bar_ts || '|'"
        " || signal_type) FROM signals",
    )
    fills = query(
        paths.paper,
        "SELECT fill_id, order_id, symbol, side, quantity, price, ts, costs FROM fills"
        " ORDER BY ts, fill_id",
    )
    net = query(
        paths.paper,
        "SELECT symbol, SUM(CASE side WHEN 'BUY' THEN quantity ELSE -quantity END) FROM fills"
        " GROUP BY symbol",
    )
    return Account(
        signals=signals,
        signal_keys_repeated=repeated[0][0] if repeated else 0,
        orders=query(
            paths.paper,
            "SELECT order_id, strategy_id, symbol, side, quantity, ts, status, signal_id, reason"
            " FROM orders ORDER BY ts, order_id",
        ),
        fills=fills,
        fills_per_order_repeated=len(fills) - len({f[1] for f in fills}),
        positions=query(
            paths.paper,
            "SELECT strategy_id, symbol, quantity, avg_price, realised_pnl, ts FROM positions"
            " ORDER BY strategy_id, symbol",
        ),
        net_of_fills=dict(net),
        day_pnl=query(
            paths.paper,
            "SELECT session_date, realised, unrealised, costs, killed, kill_reason FROM daily_pnl",
        ),
        risk_events=query(
            paths.paper,
            "SELECT ts, kind, symbol, detail FROM risk_events ORDER BY ts, kind, symbol, detail",
        ),
        runners=query(
            paths.config,
            "SELECT symbol, strategy_id, timeframe, current_bias, signal_state, last_bar_ts,"
            " status, last_error FROM runner_state ORDER BY symbol, strategy_id",
        ),
    )
