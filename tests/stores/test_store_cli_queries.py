"""DESIGN.md's four queries, verbatim, through the sqlite3 command-line tool, on real stores."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from store_samples import SYM, SYM2, runner_state, signal

from pixity.domain import RunnerStatus, SignalType
from pixity.markettime import parse_at
from pixity.stores import ConfigStore, SignalStore, StorePaths

# Copied from DESIGN.md ("These queries must work as written with the sqlite3 command-line tool").
RECENT_SIGNALS = """SELECT signal_id, strategy_id, symbol, signal_type, bar_ts FROM signals
 WHERE strategy_id = 'pixityAI_meta' ORDER BY created_at DESC LIMIT 5;"""
RUNNERS = """SELECT symbol, strategy_id, timeframe, current_bias, signal_state, updated_at
  FROM runner_state WHERE strategy_id = 'pixityAI_meta';"""
SIGNALS_LAST_DAY = """SELECT COUNT(*) FROM signals WHERE created_at > datetime('now', '-1 day');"""
LAST_RUNNER_UPDATE = """SELECT MAX(updated_at) FROM runner_state;"""

IST_TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\+05:30$")
UTC_AT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def sqlite3_cli() -> str:
    found = shutil.which("sqlite3")
    if found is None:
        pytest.fail(
            "the sqlite3 command-line tool is not installed; `make` installs it "
            "(apt-get install sqlite3): DESIGN.md promises these queries work with it"
        )
    return found


def run_query(db: Path, sql: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sqlite3_cli(), "-json", "-bail", str(db), sql],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout) if result.stdout.strip() else []


@pytest.fixture
def stores(tmp_path: Path) -> StorePaths:
    paths = StorePaths(tmp_path)
    with SignalStore(paths.signals) as signals, ConfigStore(paths.config) as config:
        for minute in range(0, 105, 15):
            for symbol in (SYM, SYM2):
                kind = SignalType.BUY if minute % 30 else SignalType.SELL
                assert signals.save_signal(signal(minute, symbol, kind))
        # Rows from more than a day ago must not be counted.
        signals.save_signal(signal(200))
        signals.connection.execute(
            "UPDATE signals SET created_at = datetime('now', '-3 days') WHERE bar_ts = ?",
            ("2024-01-15 12:35:00+05:30",),
        )
        config.upsert_runner_state(runner_state(SYM))
        config.upsert_runner_state(runner_state(SYM2, status=RunnerStatus.RUNNING, last_error=None))
        config.upsert_runner_state(runner_state(SYM, strategy_id="other_strategy"))
    return paths


def test_recent_signals_query_shows_ist_bar_ts(stores: StorePaths) -> None:
    rows = run_query(stores.signals, RECENT_SIGNALS)
    assert len(rows) == 5
    for row in rows:
        assert row["bar_ts"] is not None
        assert IST_TS.match(row["bar_ts"]), row["bar_ts"]
        assert row["strategy_id"] == "pixityAI_meta"
        assert row["signal_id"] and row["symbol"] in (SYM, SYM2)
        assert row["signal_type"] in ("BUY", "SELL")


def test_signals_of_the_last_day_are_counted(stores: StorePaths) -> None:
    assert run_query(stores.signals, SIGNALS_LAST_DAY) == [
        {"COUNT(*)": 14}  # 7 bars x 2 symbols; the 3-day-old row is left out
    ]


def test_runner_state_query_and_last_update(stores: StorePaths) -> None:
    rows = run_query(stores.config, RUNNERS)
    assert sorted(row["symbol"] for row in rows) == sorted([SYM, SYM2])
    for row in rows:
        assert row["timeframe"] == "15m"
        assert row["current_bias"] == "SELL" and row["signal_state"] == "SETUP"
        assert UTC_AT.match(row["updated_at"]), row["updated_at"]
    ((latest,),) = [tuple(row.values()) for row in run_query(stores.config, LAST_RUNNER_UPDATE)]
    assert abs(parse_at(latest) - datetime.now(UTC)) < timedelta(minutes=1)


def test_queries_work_while_the_writer_holds_the_store_open(stores: StorePaths) -> None:
    with SignalStore(stores.signals) as store:
        store.save_signal(signal(300))
        with store.transaction("an open write"):
            assert run_query(stores.signals, SIGNALS_LAST_DAY) == [{"COUNT(*)": 15}]
