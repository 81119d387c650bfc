"""The live session as `pixity live` runs it: feed-server, ingest and papermill as real processes.

Afterwards the design's SQL is run verbatim with the `sqlite3` tool on the stores the session
wrote. A second test stops the session with SIGTERM. (Killing it with SIGKILL and restarting
is the reliability suite's: tests/reliability/test_crash.py.)
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import nbformat
import pytest
from procs import Proc, poll, running

from pixity.backtest import run_backtest
from pixity.live.config import SessionConfig
from pixity.markettime import format_ts
from pixity.sample import SampleMarket
from pixity.stores.lake import write_bars
from pixity.stores.market import MarketReader

pytestmark = pytest.mark.slow

KEYS = ["NSE_EQ|INE155A01022", "NSE_EQ|INE118H01025"]
DAY = "2025-06-03"
GRID = {f"{9 + (15 + 15 * i) // 60:02d}:{(15 + 15 * i) % 60:02d}" for i in range(25)}
DESIGN_SQL_SIGNALS = """SELECT signal_id, strategy_id, symbol, signal_type, bar_ts FROM signals
 WHERE strategy_id = 'ref_ema_cross' ORDER BY created_at DESC LIMIT 5;"""
DESIGN_SQL_RUNNERS = """SELECT symbol, strategy_id, timeframe, current_bias, signal_state, updated_at
  FROM runner_state WHERE strategy_id = 'ref_ema_cross';"""


@dataclass
class Market:
    data: Path
    tmp: Path


@pytest.fixture
def market(tmp_path: Path) -> Iterator[Market]:
    """Feed-server at speed from 10:00 and the ingest into tmp/data, with history for warm-up."""
    data = tmp_path / "data"
    history = SampleMarket(KEYS, seed=7).bars_frame([date(2025, 5, 30), date(2025, 6, 2)])
    write_bars(data, history)
    fs_args = [
        "feed-server", "--symbols", *KEYS, "--port", "0", "--seed", "7", "--speed", "180",
        "--start", f"{DAY} 10:00", "--data-dir", str(tmp_path / "fs"),
    ]  # fmt: skip
    with running(fs_args, tmp_path / "fs.log") as fs:
        url = fs.wait_for(r"(ws://127\.0\.0\.1:\d+/v3/feed/market-data-feed)").group(1)
        ingest_args = [
            "ingest", "--feed", "upstox", "--feed-url", url, "--symbols", *KEYS,
            "--data-dir", str(data), "--health-port", "0",
        ]  # fmt: skip
        with running(ingest_args, tmp_path / "ingest.log") as ingest:
            ingest.wait_for(r"http://127\.0\.0\.1:\d+/health")
            yield Market(data, tmp_path)


def live(market: Market, *extra: str, name: str = "live") -> Proc:
    args = [
        "live", "--mode", "paper", "--symbols", *KEYS, "--strategies", "ref_ema_cross",
        "--max-capital", "100000", "--max-daily-loss", "5000", "--data-dir", str(market.data),
        *extra,
    ]  # fmt: skip
    return Proc(args, market.tmp / f"{name}.log")


def sqlite3_cli(db: Path, sql: str) -> list[list[str]]:
    out = subprocess.run(
        ["sqlite3", "-separator", "\t", str(db), sql],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return [line.split("\t") for line in out.stdout.splitlines()]


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def report_of(log_lines: list[str]) -> Path:
    line = next(line for line in log_lines if line.startswith("report:"))
    return Path(line.split(":", 1)[1].strip())


def test_live_session_writes_signals_on_the_15m_grid_and_runner_state(market: Market) -> None:
    proc = live(market, "--until", "11:30")
    assert proc.popen.wait(timeout=240) == 0, "".join(proc.lines[-40:])
    proc.stop()
    signals = market.data / "signals/signals.db"
    config = market.data / "config/config.db"
    recent = sqlite3_cli(signals, DESIGN_SQL_SIGNALS)
    assert recent, "no signal by 11:30"
    for _id, strategy, symbol, kind, bar_ts in recent:
        assert strategy == "ref_ema_cross" and symbol in KEYS and kind in ("BUY", "SELL", "EXIT")
        assert bar_ts.startswith(DAY) and bar_ts.endswith("+05:30") and bar_ts[11:16] in GRID
    assert sqlite3_cli(signals, "SELECT COUNT(*) FROM signals WHERE bar_ts IS NULL;") == [["0"]]
    assert int(sqlite3_cli(signals, "SELECT COUNT(*) FROM signals WHERE created_at > datetime('now', '-1 day');")[0][0]) >= len(recent)  # fmt: skip
    runners = sqlite3_cli(config, DESIGN_SQL_RUNNERS)
    assert sorted(r[0] for r in runners) == sorted(KEYS)
    assert all(r[2] == "15m" for r in runners)
    last = sqlite3_cli(config, "SELECT symbol, last_bar_ts, status FROM runner_state;")
    assert {(s, ts, st) for s, ts, st in last} == {
        (k, f"{DAY} 11:15:00+05:30", "STOPPED") for k in KEYS
    }
    assert sqlite3_cli(config, "SELECT MAX(updated_at) FROM runner_state;")[0][0]
    # The executed notebook is the report: its summary, tables and plot are there.
    nb = nbformat.read(report_of(proc.lines), as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert any("reached --until 11:30" in str(o.get("data", {})) for o in outputs)
    log_text = (report_of(proc.lines).parent / "live_session.log").read_text()
    assert " ERROR " not in log_text and "Traceback" not in log_text
    assert_backtest_parity(market.data, "11:30")


def assert_backtest_parity(data: Path, until: str) -> None:
    """Backtest the 1m bars the ingest stored: the same signals and fills as the live run."""
    with MarketReader(data / "live_buffer/market.db") as reader:
        write_bars(data, [b for b in reader.bars_1m(closed_only=True) if str(b.ts.date()) == DAY])
    config = SessionConfig.from_params(
        {"symbols": KEYS, "strategies": ["ref_ema_cross"], "max_capital": 100000.0,
         "max_daily_loss": 5000.0, "data_dir": data, "run_id": "parity", "until": until}
    )  # fmt: skip
    result = run_backtest(config, date.fromisoformat(DAY), date.fromisoformat(DAY))
    live_signals = query(data / "signals/signals.db",
                         "SELECT symbol, bar_ts, signal_type, confidence, status FROM signals")  # fmt: skip
    backtest_signals = [
        (s.symbol, format_ts(s.timestamp), s.signal_type.value, s.confidence,
         result.signals.status[i][0].value)
        for i, s in result.signals.signals.items()
    ]  # fmt: skip
    assert sorted(backtest_signals) == sorted(live_signals)  # confidences equal to the bit
    live_fills = query(data / "paper/paper.db", "SELECT fill_id, symbol, side, quantity, price, ts, costs FROM fills")  # fmt: skip
    backtest_fills = [
        (f.fill_id, f.symbol, f.side.value, f.quantity, f.price, format_ts(f.ts), f.costs)
        for f in result.fills
    ]
    assert sorted(backtest_fills) == sorted(live_fills) and live_fills


def test_sigterm_stops_cleanly_with_the_report_saved(market: Market) -> None:
    proc = live(market)
    config = market.data / "config/config.db"
    poll(
        lambda: config.exists() and query(config, "SELECT COUNT(*) FROM runner_state WHERE status = 'RUNNING'") == [(2,)],
        timeout=90, what="runners RUNNING",
    )  # fmt: skip
    assert proc.stop(signal.SIGTERM, timeout=90) == 0, "".join(proc.lines[-40:])
    assert query(config, "SELECT DISTINCT status FROM runner_state") == [("STOPPED",)]
    nb = nbformat.read(report_of(proc.lines), as_version=4)
    assert any(
        "stop requested" in str(o.get("data", {})) for c in nb.cells for o in c.get("outputs", [])
    )
