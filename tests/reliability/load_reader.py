"""One scanner kernel's reads, looped in a process of its own, for the load test.

Usage: python load_reader.py DATA_DIR PORT_FILE STOP_FILE OUT_JSON INDEX INTERVAL_S

Every ``INTERVAL_S`` it does what ``pixity.scanner.dashboard.Dashboard`` does on a refresh,
through the same code: ``ScannerView.refresh()`` (config.db, market.db, signals.db,
paper.db) and, for the row it has selected, ``ScannerView.drawer()`` (a day of one symbol's
1m bars, its signals and fills). The selected row moves on every 10 refreshes, as a user
clicking through the table. Every 2 s it builds the health panel's report
(``pixity.health.build_report``: each store opened, read and closed, and the ingest's
/health) once the ingest's port is in PORT_FILE; every 10 s (staggered by INDEX) it runs the
design's queries with the ``sqlite3`` command-line tool, as written, plus one on market.db.

Nothing in the view model raises for a store it cannot read: the message is in the result's
``errors``. So each message is counted by type: ``lock_busy`` ('database is locked' or
'busy', what sqlite3.OperationalError says when a wait for a lock runs out) or ``other``.
A store that does not exist yet is a note (the view) or an error on a missing file (health):
those are counted as ``missing`` and are expected only before the writers have started.
Anything raised is counted as ``raised``. After each refresh no reader kept open may be
inside a transaction (it would stop the WAL from being checkpointed).

Writes its counts to OUT_JSON on exit (stop file, or a 2 h bound).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pixity.clock import WallClock
from pixity.health import build_report
from pixity.scanner import ScannerView
from pixity.stores.paths import StorePaths

HEALTH_EVERY_S = 2.0  # the dashboard's health panel
CLI_EVERY_S = 10.0
BOUND_S = 7200.0  # a bound even if the stop file never comes
CLI_QUERIES = (  # the design's queries, verbatim, and one on the live buffer
    ("signals", "SELECT signal_id, strategy_id, symbol, signal_type, bar_ts FROM signals\n"
                " WHERE strategy_id = 'pixityAI_meta' ORDER BY created_at DESC LIMIT 5;"),
    ("config", "SELECT symbol, strategy_id, timeframe, current_bias, signal_state, updated_at\n"
               "  FROM runner_state WHERE strategy_id = 'pixityAI_meta';"),
    ("signals", "SELECT COUNT(*) FROM signals WHERE created_at > datetime('now', '-1 day');"),
    ("config", "SELECT MAX(updated_at) FROM runner_state;"),
    ("market", "SELECT COUNT(*), MAX(bar_ts) FROM bars_1m;"),
)  # fmt: skip
STORE_KEYS = ("market", "signals", "config", "paper")


def kind_of(message: str) -> str:
    """Return the error type of ``message``: ``lock_busy`` or ``other``."""
    text = message.lower()
    return "lock_busy" if "locked" in text or "busy" in text else "other"


class Tally:
    """Counts of what was done and of each error type, with the first messages of each."""

    def __init__(self) -> None:
        self.done: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.messages: dict[str, list[str]] = {}
        self.ms: dict[str, list[float]] = {"refresh": [], "drawer": [], "health": [], "cli": []}

    def error(self, kind: str, where: str, message: str) -> None:
        self.errors[kind] += 1
        seen = self.messages.setdefault(kind, [])
        if len(seen) < 10:
            seen.append(f"{where}: {message}"[:500])

    def view_errors(self, where: str, errors: dict[str, str]) -> None:
        for store, message in errors.items():
            self.error(kind_of(message), f"{where} {store}", message)

    def timed(self, name: str, started: float) -> None:
        self.done[name] += 1
        self.ms[name].append((time.monotonic() - started) * 1000)

    def summary(self) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float | None:
            if not values:
                return None
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

        return {
            "done": dict(self.done),
            "errors": dict(self.errors),
            "messages": self.messages,
            "ms": {
                name: {"p50": pct(v, 0.5), "p99": pct(v, 0.99), "max": pct(v, 1.0)}
                for name, v in self.ms.items()
            },
        }


class Reader:
    """The reads of one kernel over ``data_dir``."""

    def __init__(self, data_dir: Path, port_file: Path, index: int) -> None:
        self.data_dir = data_dir
        self.paths = StorePaths(data_dir)
        self.port_file = port_file
        self.index = index
        self.view = ScannerView(data_dir, clock=WallClock())
        self.tally = Tally()
        self.port: int | None = None
        self.row = 0

    def refresh(self) -> None:
        started = time.monotonic()
        snap = self.view.refresh()
        self.tally.timed("refresh", started)
        self.tally.view_errors("refresh", snap.errors)
        if any(r.in_transaction() for r in self.view.open_readers().values()):
            self.tally.error("other", "refresh", "a reader held a transaction open after a read")
        frame = snap["overview"]
        if frame.empty:
            return
        self.row += 1
        pick = (self.row // 10 + 37 * self.index) % len(frame)
        symbol, strategy = frame["symbol"].iloc[pick], frame["strategy_id"].iloc[pick]
        started = time.monotonic()
        drawer = self.view.drawer(str(symbol), str(strategy))
        self.tally.timed("drawer", started)
        self.tally.view_errors("drawer", drawer.errors)

    def health(self) -> None:
        if self.port is None:
            try:
                self.port = int(self.port_file.read_text())
            except (OSError, ValueError):
                return
        paths = self.paths
        existed = {k: p.exists() for k, p in zip(STORE_KEYS, (paths.market, paths.signals, paths.config, paths.paper), strict=True)}  # fmt: skip
        started = time.monotonic()
        report = build_report(self.data_dir, health_port=self.port, clock=WallClock())
        self.tally.timed("health", started)
        for key in STORE_KEYS:
            message = report.get(f"{key}_error")
            if message:
                kind = kind_of(message) if existed[key] else "missing"
                self.tally.error(kind, f"health {key}", message)
        if report.get("ingest_error"):
            self.tally.error("ingest_unreachable", "health", report["ingest_error"])

    def cli(self) -> None:
        paths = {"market": self.paths.market, "signals": self.paths.signals, "config": self.paths.config}  # fmt: skip
        for store, sql in CLI_QUERIES:
            db = paths[store]
            if not db.exists():
                continue
            started = time.monotonic()
            done = subprocess.run(
                ["sqlite3", str(db), sql], capture_output=True, text=True, timeout=60
            )
            self.tally.timed("cli", started)
            if done.returncode != 0 or done.stderr.strip():
                message = f"exit {done.returncode}: {done.stderr.strip()}"
                self.tally.error(kind_of(message), f"sqlite3 {store}", message)


def main() -> None:
    data_dir, port_file, stop, out = (Path(a) for a in sys.argv[1:5])
    index, interval = int(sys.argv[5]), float(sys.argv[6])
    reader = Reader(data_dir, port_file, index)
    started = time.monotonic()
    next_health, next_cli = started, started + CLI_EVERY_S * (index + 1) / 8
    while not stop.exists() and time.monotonic() - started < BOUND_S:
        now = time.monotonic()
        steps = [reader.refresh]
        if now >= next_health:
            steps.append(reader.health)
            next_health = now + HEALTH_EVERY_S
        if now >= next_cli:
            steps.append(reader.cli)
            next_cli = now + CLI_EVERY_S
        for step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - the point is to count every error
                reader.tally.error("raised", step.__name__, f"{type(exc).__name__}: {exc}")
        time.sleep(max(0.0, interval - (time.monotonic() - now)))
    reader.view.close()
    summary = {
        "index": index,
        "seconds": round(time.monotonic() - started, 1),
        **reader.tally.summary(),
    }
    out.write_text(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
