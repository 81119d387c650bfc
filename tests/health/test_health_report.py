"""``build_report``: real stores in tmp_path, a real HTTP server standing in for the ingest."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import replace
from datetime import datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from health_support import (
    DAY,
    HEALTHY_INGEST,
    NOW,
    STRATEGY,
    SYM,
    SYM2,
    backdate,
    canned_ingest,
    free_port,
    runner,
    silent_listener,
    store_files,
    wal_sizes,
    write_all,
    write_market,
)

from pixity.clock import ManualClock
from pixity.domain import DayPnl, RunnerStatus
from pixity.health import build_report, exit_code
from pixity.ingest.health import IngestHealth
from pixity.ingest.http import HealthServer
from pixity.markettime import ist
from pixity.stores import ConfigStore, PaperStore, SignalStore, StorePaths

STORE_ERRORS = ("market_error", "signals_error", "config_error", "paper_error")


def report_for(
    data_dir: Path, port: int, now: datetime = NOW, timeout_s: float = 2.0
) -> dict[str, Any]:
    return build_report(data_dir, health_port=port, clock=ManualClock(now), timeout_s=timeout_s)


def errors(report: dict[str, Any]) -> set[str]:
    return {key for key in report if key.endswith("_error")}


def test_all_stores_and_a_healthy_ingest_is_ok(tmp_path: Path) -> None:
    write_all(StorePaths(tmp_path))
    with canned_ingest(HEALTHY_INGEST) as (port, canned):
        report = report_for(tmp_path, port)
    assert canned.requests == 1
    assert report["status"] == "ok" and exit_code(report) == 0
    assert report["reasons"] == [] and errors(report) == set()
    assert report["market_phase"] == "open"
    assert report["checked_at"] == "2025-06-02T04:30:00+00:00"  # 10:00 IST, in UTC
    # the stores
    assert report["live_buffer_accessible"] is True
    assert report["last_bar_ts"] == "2025-06-02T09:16:00+05:30"
    assert report["runner_state_count"] == 2
    assert report["runners"] == {"STARTING": 0, "RUNNING": 2, "STALE": 0, "STOPPED": 0, "ERROR": 0}
    assert report["last_runner_update"] == "2025-06-02T04:25:00+00:00"  # 09:55 IST
    assert report["runner_update_age_s"] == 300.0
    assert report["signals_count"] == 2  # the one from two days ago is not in the last day
    assert report["paper_session_date"] == DAY
    assert report["day_pnl"] == round(1250.5 - 20.25 - 61.75, 2)
    assert report["killed"] is False
    # the ingest's fields, as it sent them
    for key in (
        "feed_connected",
        "last_tick_age_s",
        "ticks_per_s",
        "ticks_rejected",
        "flush_failures",
        "last_flush_ms",
        "buffer_depth",
    ):
        assert report[key] == HEALTHY_INGEST[key], key
    assert report["ingest_status"] == "ok"
    assert json.loads(json.dumps(report)) == report


def test_a_stopped_ingest_degrades_and_its_fields_are_null(tmp_path: Path) -> None:
    write_all(StorePaths(tmp_path))
    report = report_for(tmp_path, free_port())
    assert report["status"] == "degraded" and exit_code(report) == 1
    assert errors(report) == {"ingest_error"}
    assert report["ingest_error"] in report["reasons"] and len(report["reasons"]) == 1
    assert report["ingest_status"] is None
    for key in ("feed_connected", "last_tick_age_s", "ticks_per_s", "ticks_rejected"):
        assert report[key] is None
    # The stores are still read.
    assert report["runner_state_count"] == 2 and report["signals_count"] == 2


def test_an_ingest_that_never_answers_is_cut_off_by_the_timeout(tmp_path: Path) -> None:
    write_all(StorePaths(tmp_path))
    with silent_listener() as port:
        started = time.monotonic()
        report = report_for(tmp_path, port, timeout_s=0.3)
        elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert report["status"] == "degraded" and "timed out" in report["ingest_error"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"<html>not json</html>", HTTPStatus.OK),
        (b"[1, 2, 3]", HTTPStatus.OK),
        (json.dumps({**HEALTHY_INGEST, "status": "fine"}).encode(), HTTPStatus.OK),
        (json.dumps({**HEALTHY_INGEST, "flush_failures": "none"}).encode(), HTTPStatus.OK),
        (json.dumps({**HEALTHY_INGEST, "ticks_rejected": [3]}).encode(), HTTPStatus.OK),
        (b'{"status": "down", "health_error": "boom"}', HTTPStatus.INTERNAL_SERVER_ERROR),
    ],
    ids=["html", "json-list", "bad-status", "bad-count", "bad-rejections", "http-500"],
)
def test_an_ingest_reply_that_is_not_a_health_report_is_an_error(
    tmp_path: Path, body: bytes, status: HTTPStatus
) -> None:
    write_all(StorePaths(tmp_path))
    with canned_ingest(body, status) as (port, _):
        report = report_for(tmp_path, port)
    assert report["status"] == "degraded"
    assert errors(report) == {"ingest_error"}
    assert report["ingest_error"] in report["reasons"]


def test_a_field_of_the_wrong_type_is_not_passed_on(tmp_path: Path) -> None:
    write_all(StorePaths(tmp_path))
    with canned_ingest({**HEALTHY_INGEST, "flush_failures": -3}) as (port, _):
        report = report_for(tmp_path, port)
    assert report["flush_failures"] is None
    assert report["buffer_depth"] == HEALTHY_INGEST["buffer_depth"]
    assert "flush_failures" in report["ingest_error"]


def test_an_ingest_reporting_degraded_degrades_with_its_reasons(tmp_path: Path) -> None:
    write_all(StorePaths(tmp_path))
    reply = {**HEALTHY_INGEST, "status": "degraded", "reasons": ["feed_disconnected"]}
    reply.update(feed_connected=False, feed_error="websocket closed: 1006")
    with canned_ingest(reply) as (port, _):
        report = report_for(tmp_path, port)
    assert report["status"] == "degraded" and "ingest_error" not in report
    assert report["ingest_status"] == "degraded"
    assert report["ingest_reasons"] == ["feed_disconnected"]
    assert len(report["reasons"]) == 1
    assert report["feed_connected"] is False
    assert report["feed_error"] == "websocket closed: 1006"


def test_an_ingest_reporting_down_makes_the_report_down(tmp_path: Path) -> None:
    write_all(StorePaths(tmp_path))
    reply = {**HEALTHY_INGEST, "status": "down", "reasons": ["stopped"], "fatal_error": "disk"}
    with canned_ingest(reply) as (port, _):
        report = report_for(tmp_path, port)
    assert report["status"] == "down" and exit_code(report) == 2
    assert report["fatal_error"] == "disk"
    assert report["reasons"]


def test_the_real_ingest_health_server_is_understood(tmp_path: Path) -> None:
    write_all(StorePaths(tmp_path))
    health = IngestHealth()
    health.feed_connected = True
    health.count_tick(5)
    health.reject("bad_price", 2)
    health.flushed(3.5)
    server = HealthServer(health, port=0)
    server.start()
    try:
        port = int(server.url.rsplit(":", 1)[1])
        report = report_for(tmp_path, port)
    finally:
        server.stop()
    assert "ingest_error" not in report
    assert report["status"] == "ok" and report["ingest_status"] == "ok"
    assert report["ticks_rejected"] == {"bad_price": 2}
    assert report["last_flush_ms"] == 3.5 and report["feed_connected"] is True
    assert report["last_tick_age_s"] is not None and report["last_tick_age_s"] >= 0


@pytest.mark.parametrize("status", [RunnerStatus.STALE, RunnerStatus.ERROR])
def test_a_stale_or_failed_runner_degrades(tmp_path: Path, status: RunnerStatus) -> None:
    write_all(StorePaths(tmp_path), statuses=(RunnerStatus.RUNNING, status))
    with canned_ingest(HEALTHY_INGEST) as (port, _):
        report = report_for(tmp_path, port)
    assert report["status"] == "degraded" and errors(report) == set()
    assert report["runners"][status.value] == 1 and report["runners"]["RUNNING"] == 1
    [flagged] = report["runners_attention"]
    assert (flagged["symbol"], flagged["strategy_id"], flagged["status"]) == (
        SYM2,
        STRATEGY,
        status.value,
    )
    assert len(report["reasons"]) == 1


def test_stopped_runners_are_not_a_fault(tmp_path: Path) -> None:
    stopped = (RunnerStatus.STOPPED, RunnerStatus.STOPPED)
    write_all(StorePaths(tmp_path), statuses=stopped, runner_update=ist(2025, 6, 2, 15, 31))
    with canned_ingest(HEALTHY_INGEST) as (port, _):
        report = report_for(tmp_path, port, now=ist(2025, 6, 2, 16, 30))
    assert report["status"] == "ok" and report["runners"]["STOPPED"] == 2


@pytest.mark.parametrize(
    ("last_update", "now", "status"),
    [
        # 90 minutes without an update at 11:00 on a trading day
        (ist(2025, 6, 2, 9, 30), ist(2025, 6, 2, 11, 0), "degraded"),
        # just inside the bound
        (ist(2025, 6, 2, 10, 41), ist(2025, 6, 2, 11, 0), "ok"),
        # the same age on a Saturday: the market is closed, nothing should be updating
        (ist(2025, 6, 7, 9, 30), ist(2025, 6, 7, 11, 0), "ok"),
        # after the close on a trading day
        (ist(2025, 6, 2, 15, 30), ist(2025, 6, 2, 17, 0), "ok"),
        # last night's final write: only the time since 09:15 counts
        (ist(2025, 5, 30, 15, 30), ist(2025, 6, 2, 9, 30), "ok"),
        (ist(2025, 5, 30, 15, 30), ist(2025, 6, 2, 9, 40), "degraded"),
    ],
    ids=["stale-in-session", "fresh", "weekend", "after-close", "pre-first-bar", "missed-bar"],
)
def test_runner_state_not_updated_while_the_market_is_open_degrades(
    tmp_path: Path, last_update: datetime, now: datetime, status: str
) -> None:
    write_all(StorePaths(tmp_path), runner_update=last_update)
    with canned_ingest(HEALTHY_INGEST) as (port, _):
        report = report_for(tmp_path, port, now=now)
    assert report["status"] == status, report["reasons"]
    assert report["runner_update_age_s"] == (now - last_update).total_seconds()
    assert len(report["reasons"]) == (1 if status == "degraded" else 0)


def test_no_store_and_no_ingest_is_down(tmp_path: Path) -> None:
    report = report_for(tmp_path / "empty", free_port())
    assert report["status"] == "down" and exit_code(report) == 2
    assert errors(report) == {"ingest_error", *STORE_ERRORS}
    assert report["live_buffer_accessible"] is False
    assert report["runner_state_count"] is None and report["signals_count"] is None
    assert report["day_pnl"] is None and report["killed"] is None


def test_only_the_live_buffer_is_degraded_not_down(tmp_path: Path) -> None:
    write_market(StorePaths(tmp_path))
    report = report_for(tmp_path, free_port())
    assert report["status"] == "degraded"
    assert report["live_buffer_accessible"] is True


def test_live_session_stores_not_written_yet_degrade_with_one_reason_each(tmp_path: Path) -> None:
    write_market(StorePaths(tmp_path))
    with canned_ingest(HEALTHY_INGEST) as (port, _):
        report = report_for(tmp_path, port)
    assert report["status"] == "degraded"
    assert errors(report) == {"signals_error", "config_error", "paper_error"}
    assert len(report["reasons"]) == 3
    for store in ("signals.db", "config.db", "paper.db"):
        assert sum(store in reason for reason in report["reasons"]) == 1, store


@pytest.mark.parametrize(
    ("store", "error_key"),
    [
        ("market", "market_error"),
        ("signals", "signals_error"),
        ("config", "config_error"),
        ("paper", "paper_error"),
    ],
)
def test_a_corrupt_store_is_reported_not_raised(tmp_path: Path, store: str, error_key: str) -> None:
    paths = StorePaths(tmp_path)
    write_all(paths)
    path: Path = getattr(paths, store)
    path.write_bytes(b"this is not an SQLite database " * 200)
    with canned_ingest(HEALTHY_INGEST) as (port, _):
        report = report_for(tmp_path, port)
    assert report["status"] == "degraded"
    assert errors(report) == {error_key}
    assert "Traceback" not in report[error_key]
    assert any(path.name in reason for reason in report["reasons"])
    # The other stores are still read.
    if store != "config":
        assert report["runner_state_count"] == 2
    if store != "signals":
        assert report["signals_count"] == 2
    assert report["live_buffer_accessible"] is (store != "market")


def test_a_store_of_an_unknown_schema_is_reported(tmp_path: Path) -> None:
    paths = StorePaths(tmp_path)
    write_all(paths)
    with ConfigStore(paths.config) as store, store.transaction("bump version") as conn:
        conn.execute("PRAGMA user_version = 99")
    with canned_ingest(HEALTHY_INGEST) as (port, _):
        report = report_for(tmp_path, port)
    assert report["status"] == "degraded" and errors(report) == {"config_error"}
    assert report["runner_state_count"] is None


def test_the_daily_loss_kill_is_reported_but_not_degraded(tmp_path: Path) -> None:
    write_all(StorePaths(tmp_path), killed=True)
    with canned_ingest(HEALTHY_INGEST) as (port, _):
        report = report_for(tmp_path, port)
    assert report["status"] == "ok" and report["reasons"] == []
    assert report["killed"] is True
    assert report["kill_reason"] == "daily loss 5181.50 reached limit 5000"
    assert report["day_pnl"] == round(-5100.0 - 20.25 - 61.75, 2)
    assert len(report["notes"]) == 1


def test_on_a_weekend_the_last_session_days_pnl_is_shown(tmp_path: Path) -> None:
    paths = StorePaths(tmp_path)
    write_all(paths)
    friday = DayPnl(
        session_date="2025-06-06", realised=10.0, unrealised=0.0, costs=1.0, killed=False,
        kill_reason=None,
    )  # fmt: skip
    with PaperStore(paths.paper) as store:
        store.upsert_day_pnl(friday)
    with canned_ingest(HEALTHY_INGEST) as (port, _):
        sunday = report_for(tmp_path, port, now=ist(2025, 6, 8, 11, 0))
        monday = report_for(tmp_path, port)
    assert (sunday["paper_session_date"], sunday["day_pnl"]) == ("2025-06-06", 9.0)
    assert (monday["paper_session_date"], monday["killed"]) == (DAY, False)


def test_the_report_reads_the_stores_without_writing_them(tmp_path: Path) -> None:
    paths = StorePaths(tmp_path)
    write_all(paths)
    before = store_files(paths)
    assert len(before) == 4 and wal_sizes(paths) == {}
    time.sleep(0.01)  # a write would show in the modification times
    with canned_ingest(HEALTHY_INGEST) as (port, _):
        report = report_for(tmp_path, port)
    assert report["status"] == "ok"
    assert store_files(paths) == before
    # SQLite may leave an empty WAL beside a file read in WAL mode; nothing is written to it.
    assert all(size == 0 for size in wal_sizes(paths).values())


def test_a_writer_holding_its_write_lock_does_not_block_the_report(tmp_path: Path) -> None:
    paths = StorePaths(tmp_path)
    write_all(paths)
    with canned_ingest(HEALTHY_INGEST) as (port, _), ConfigStore(paths.config) as store:
        with store.transaction("long write") as conn:
            conn.execute("UPDATE runner_state SET status = 'STALE' WHERE symbol = ?", (SYM,))
            started = time.monotonic()
            report = report_for(tmp_path, port)
            elapsed = time.monotonic() - started
        # After the writer commits, the next report sees its write: no snapshot was kept.
        after = report_for(tmp_path, port)
    assert elapsed < 1.0
    assert report["status"] == "ok" and report["runners"]["STALE"] == 0
    assert after["status"] == "degraded" and after["runners"]["STALE"] == 1


def test_a_signal_just_over_a_day_old_is_not_counted(tmp_path: Path) -> None:
    paths = StorePaths(tmp_path)
    write_all(paths)
    with SignalStore(paths.signals) as store:
        backdate(store, "signals", "created_at", NOW - timedelta(days=1))
    with canned_ingest(HEALTHY_INGEST) as (port, _):
        at_the_bound = report_for(tmp_path, port)
        a_second_earlier = report_for(tmp_path, port, now=NOW - timedelta(seconds=1))
    assert at_the_bound["signals_count"] == 0  # created_at > now - 1 day, not >=
    assert a_second_earlier["signals_count"] == 3


def test_the_paper_day_shown_is_the_feeds_day_when_a_past_day_is_replayed(tmp_path: Path) -> None:
    from pixity.stores.market import IngestState, MarketStore

    paths = StorePaths(tmp_path)
    with MarketStore(paths.market) as market:
        state = IngestState(
            session_date=ist(2025, 6, 3, 0, 0).date(), journal_file="2025-06-03.journal",
            journal_offset=0, next_seq=0, feed_clock_ms=None,
        )  # fmt: skip
        market.write_batch([], [], state=state)
    with PaperStore(paths.paper) as paper:
        paper.upsert_day_pnl(
            DayPnl(session_date="2025-06-03", realised=-120.0, unrealised=20.0, costs=5.0,
                   killed=False, kill_reason=None)
        )  # fmt: skip
    report = build_report(tmp_path, health_port=1, clock=ManualClock(ist(2026, 12, 1, 11, 0)))
    assert report["paper_session_date"] == "2025-06-03"
    assert report["day_pnl"] == pytest.approx(-105.0)


def test_a_failing_journal_shows_its_held_frames_and_says_why(tmp_path: Path) -> None:
    write_all(StorePaths(tmp_path))
    health = IngestHealth()
    health.feed_connected = True
    health.count_tick(5)
    health.journal_error = "StoreError: journal 2025-06-03.journal: append failed: disk full"
    health.frames_held = 42
    server = HealthServer(health, port=0)
    server.start()
    try:
        report = report_for(tmp_path, int(server.url.rsplit(":", 1)[1]))
    finally:
        server.stop()
    assert report["status"] == "degraded" and report["frames_held"] == 42
    assert "disk full" in report["journal_error"]
    assert any("cannot write its journal" in reason for reason in report["reasons"])


def test_a_runner_short_of_its_warm_up_is_a_note_not_a_fault(tmp_path: Path) -> None:
    paths = StorePaths(tmp_path)
    write_all(paths)
    cold = "warming up: started with 0 of the 175 history bars pixityAI_meta needs"
    with ConfigStore(paths.config) as store:
        store.upsert_runner_state(replace(runner(SYM), last_error=cold))
        backdate(store, "runner_state", "updated_at", NOW - timedelta(minutes=5))
    with canned_ingest(HEALTHY_INGEST) as (port, _):
        report = report_for(tmp_path, port)
    assert report["status"] == "ok" and report["runners_warming"] == 1
    assert report["reasons"] == []
    assert any(cold in note and SYM in note for note in report["notes"])


def test_the_sessions_status_and_late_bars_are_reported(tmp_path: Path) -> None:
    write_all(StorePaths(tmp_path), late_bars=3)
    with canned_ingest(HEALTHY_INGEST) as (port, _):
        report = report_for(tmp_path, port)
    assert report["status"] == "ok"  # late bars are told, they are not a standing fault
    session = report["session"]
    assert (session["session_date"], session["status"], session["late_bars"]) == (
        "2025-06-02",
        "RUNNING",
        3,
    )
    assert (session["bars_1m"], session["bars_15m"], session["signals"]) == (90, 12, 2)
    [note] = [n for n in report["notes"] if "late" in n or "after their 15m bar" in n]
    assert note.startswith("3 1m bar(s) reached the live session of 2025-06-02 after their")
    assert str(tmp_path / "runs" / "2025-06-02") in note


def test_each_stores_wal_size_is_reported_while_its_writer_has_it_open(tmp_path: Path) -> None:
    paths = StorePaths(tmp_path)
    write_all(paths)  # the writers have closed: their WALs were checkpointed away
    with canned_ingest(HEALTHY_INGEST) as (port, _):
        assert report_for(tmp_path, port)["store_wal_bytes"] == {}
        with ConfigStore(paths.config) as store:  # a running session's writer
            store.upsert_runner_state(runner(SYM))
            sizes = report_for(tmp_path, port)["store_wal_bytes"]
            # The first report's readers left empty WAL files of the other stores behind.
            assert sizes == {"market": 0, "signals": 0, "config": sizes["config"], "paper": 0}
            assert sizes["config"] > 0 and sizes["config"] == wal_sizes(paths)["config.db-wal"]


def test_a_config_db_of_the_previous_release_is_still_reported(tmp_path: Path) -> None:
    paths = StorePaths(tmp_path)
    write_all(paths)
    with sqlite3.connect(paths.config) as conn:  # as the release before session_status left it
        conn.execute("DROP TABLE session_status")
        conn.execute("PRAGMA user_version = 1")
    with canned_ingest(HEALTHY_INGEST) as (port, _):
        report = report_for(tmp_path, port)
    assert "config_error" not in report and report["status"] == "ok"
    assert report["runner_state_count"] == 2 and report["session"] is None
