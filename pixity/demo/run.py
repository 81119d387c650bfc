"""``pixity demo``: the whole system on the local exchange, accelerated, on an empty machine.

Order: history for warm-up (the seeded sample market), the local exchange at speed 60 from
09:15 of the latest trading day, the ingest, a paper live session, the scanner. Each is waited
for until healthy; then the demo prints where to look and keeps one status line. It stops on
Ctrl-C, SIGTERM or after ``--duration`` seconds, in the order that loses nothing: the session
first (its report is saved), then the scanner, the ingest (its final flush), the exchange.
Its data lives in ``<data-dir>/demo`` and is replaced by the next demo, so a second run needs
no cleaning.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import sqlite3
import sys
import time
import urllib.request
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import FrameType

from pixity.demo.parts import Part, PartFailed
from pixity.errors import ConfigError
from pixity.markettime import nse_calendar
from pixity.stores.paths import StorePaths

KEYS = (
    "NSE_EQ|INE155A01022",  # the design's two keys
    "NSE_EQ|INE118H01025",
    "NSE_EQ|INE002A01018",
    "NSE_EQ|INE467B01029",
    "NSE_EQ|INE040A01034",
    "NSE_EQ|INE009A01021",
)
WARMUP_DAYS = 7  # sample history before the demo day: what pixityAI_meta's warm-up reads
STOP_TIMEOUTS = {"live": 120.0, "scanner": 20.0, "ingest": 30.0, "exchange": 20.0}


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoConfig:
    """What the demo runs."""

    data_dir: Path
    day: date
    strategy: str
    scanner_port: int = 8866
    speed: float = 60.0
    duration_s: float | None = None
    keys: tuple[str, ...] = KEYS


@dataclass(slots=True)
class Demo:
    """The running parts, in start order."""

    config: DemoConfig
    parts: dict[str, Part] = field(default_factory=dict)
    health_url: str = ""
    stop_requested: list[int] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.config.data_dir / "demo"

    @property
    def data(self) -> Path:
        return self.root / "data"


def check_port(port: int) -> None:
    """Refuse a scanner port that is in use, before anything starts."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ConfigError(f"port {port} on 127.0.0.1 is in use: pass --port") from None


def prepare(demo: Demo) -> None:
    """Replace the demo's data dir and write a week of sample history for the warm-up."""
    from pixity.sample import SampleMarket
    from pixity.stores.lake import write_bars

    if demo.root.exists():
        shutil.rmtree(demo.root)
    (demo.root / "logs").mkdir(parents=True)
    calendar = nse_calendar()
    days, day = [], demo.config.day
    for _ in range(WARMUP_DAYS):
        day = calendar.previous_trading_day(day)
        days.append(day)
    write_bars(demo.data, SampleMarket(list(demo.config.keys), seed=7).bars_frame(sorted(days)))


def start(demo: Demo) -> None:
    """Start every part in order, each waited for until it is ready."""
    cfg, logs, keys = demo.config, demo.root / "logs", list(demo.config.keys)
    exchange = demo.parts["exchange"] = Part("feed-server", [
        "feed-server", "--symbols", *keys, "--speed", f"{cfg.speed:g}", "--port", "0",
        "--start", f"{cfg.day} 09:15", "--data-dir", str(demo.root / "exchange"),
    ], logs / "feed-server.log")  # fmt: skip
    url = exchange.wait_for(r"(ws://127\.0\.0\.1:\d+/\S*)", 60).group(1)
    ingest = demo.parts["ingest"] = Part("ingest", [
        "ingest", "--feed", "upstox", "--feed-url", url, "--symbols", *keys,
        "--data-dir", str(demo.data), "--health-port", "0",
    ], logs / "ingest.log")  # fmt: skip
    demo.health_url = ingest.wait_for(r"(http://127\.0\.0\.1:\d+)/health", 60).group(1)
    live = demo.parts["live"] = Part("live session", [
        "live", "--mode", "paper", "--symbols", *keys, "--strategies", cfg.strategy,
        "--max-capital", "100000", "--max-daily-loss", "5000", "--data-dir", str(demo.data),
    ], logs / "live.log")  # fmt: skip
    live.wait_until(lambda: _runners(demo.data, "RUNNING") == len(keys), "runners RUNNING", 180)
    port = demo.health_url.rsplit(":", 1)[1]
    scanner = demo.parts["scanner"] = Part("scanner", [
        "scanner", "--data-dir", str(demo.data), "--port", str(cfg.scanner_port),
        "--health-port", port,
    ], logs / "scanner.log")  # fmt: skip
    scanner.wait_for(r"Voilà is running", 120)
    scanner.wait_until(lambda: _http_ok(f"http://127.0.0.1:{cfg.scanner_port}/"), "page served", 60)


def _runners(data: Path, status: str) -> int:
    rows = _query(StorePaths(data).config, "SELECT COUNT(*) FROM runner_state WHERE status = ?", status)  # fmt: skip
    return int(str(rows[0][0])) if rows else 0


def _query(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    if not db.exists():
        return []
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)) as conn:
            return conn.execute(sql, params).fetchall()
    except sqlite3.Error:
        return []  # being created or busy: the next look sees it


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return int(response.status) == 200
    except OSError:
        return False


def status_line(demo: Demo) -> str:
    """Return one line: simulated time, ticks/s, bars, signals, P&L."""
    try:
        with urllib.request.urlopen(f"{demo.health_url}/health", timeout=2) as response:
            health = json.loads(response.read())
    except (OSError, ValueError):
        health = {}
    paths = StorePaths(demo.data)
    clock = str(health.get("feed_clock") or "")[11:19] or "--:--:--"
    bars = _query(paths.market, "SELECT COUNT(*) FROM bars_1m WHERE closed = 1")
    signals = _query(paths.signals, "SELECT COUNT(*) FROM signals")
    pnl = _query(paths.paper, "SELECT realised + unrealised - costs FROM daily_pnl ORDER BY session_date DESC LIMIT 1")  # fmt: skip
    rate = float(health.get("ticks_per_s") or 0.0)
    money = f"{float(str(pnl[0][0])):+,.2f}" if pnl and pnl[0][0] is not None else "+0.00"
    return (
        f"sim {clock} IST | {rate:,.0f} ticks/s | 1m bars {bars[0][0] if bars else 0} | "
        f"signals {signals[0][0] if signals else 0} | paper P&L {money} | "
        f"health {health.get('status', 'unknown')}"
    )


def stop(demo: Demo) -> list[str]:
    """Stop the parts: the session first (its report), the ingest last but the exchange."""
    problems = []
    for name in ("live", "scanner", "ingest", "exchange"):
        part = demo.parts.get(name)
        if part is None:
            continue
        code = part.stop(STOP_TIMEOUTS[name])
        if code not in (0, None) and not (name == "exchange" and code < 0):
            problems.append(f"{part.name} exited {code}; see {part.log}")
    return problems


def run(config: DemoConfig) -> int:
    """Run the demo until Ctrl-C, SIGTERM or ``duration_s``; return the exit code."""
    check_port(config.scanner_port)
    demo = Demo(config)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        demo.stop_requested.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    failed: str | None = None
    try:
        print(f"pixity demo: preparing {demo.root} (replaced on every demo run)", flush=True)
        prepare(demo)
        start(demo)
        announce(demo)
        watch(demo)
    except PartFailed as exc:
        failed = str(exc)
    finally:
        # Whatever ended the demo, its parts (each in its own process session) go with it.
        if failed is None:
            print("\npixity demo: stopping (session first, so its report is saved)…", flush=True)
        problems = stop(demo)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if failed is not None:
        print(f"pixity demo: error: {failed}", file=sys.stderr, flush=True)
        return 1
    for problem in problems:
        print(f"pixity demo: {problem}", file=sys.stderr)
    print(f"pixity demo: stopped. Reports: {StorePaths(demo.data).runs}", flush=True)
    return 1 if problems else 0


def announce(demo: Demo) -> None:
    data = demo.data
    port = demo.health_url.rsplit(":", 1)[1]
    print(
        f"""
pixity demo is running ({len(demo.config.keys)} symbols, {demo.config.strategy}, speed {demo.config.speed:g}: a session minute a second)
  scanner:  http://127.0.0.1:{demo.config.scanner_port}/
  health:   pixity health --data-dir {data} --health-port {port}
  stores:   {data}/signals/signals.db, {data}/config/config.db, {data}/paper/paper.db (sqlite3)
  reports:  {StorePaths(data).runs}/<session date>/live_session-*.ipynb
  logs:     {demo.root / "logs"}
Ctrl-C stops it.""",
        flush=True,
    )


def watch(demo: Demo) -> None:
    """Print the status line until told to stop, a part dies, or the duration is over."""
    started, tty = time.monotonic(), sys.stdout.isatty()
    last_print = 0.0
    while not demo.stop_requested:
        if (
            demo.config.duration_s is not None
            and time.monotonic() - started >= demo.config.duration_s
        ):
            return
        for part in demo.parts.values():
            if not part.alive:
                raise part.failure(f"exited with {part.popen.returncode}")
        now = time.monotonic()
        if tty:
            print("\r" + status_line(demo).ljust(110), end="", flush=True)
        elif now - last_print >= 10:
            print(status_line(demo), flush=True)
            last_print = now
        time.sleep(1.0)
