"""The scanner reads every store read-only, briefly, and never raises to the dashboard."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from scanner_support import (
    STRATEGY,
    SYM,
    clock,
    runner,
    write_all,
    write_config,
    write_market,
)

from pixity.domain import RunnerStatus
from pixity.scanner import CANDLES, OVERVIEW, ScannerView, drawer, overview
from pixity.stores import ConfigStore, MarketStore, StorePaths


def test_before_anything_started_frames_are_empty_and_notes_say_what_to_start(
    tmp_path: Path,
) -> None:
    with ScannerView(tmp_path, clock=clock()) as view:
        snap = view.refresh()
        frame = snap["overview"]
        assert frame.empty and list(frame.columns) == list(OVERVIEW)
        assert {c: str(frame[c].dtype) for c in frame} == {c: str(d) for c, d in OVERVIEW.items()}
        assert snap.errors == {}
        assert "no live session yet: start `pixity live`" in snap.notes
        assert "no market data yet: start `pixity ingest`" in snap.notes
        assert (snap.values["day_pnl"], snap.values["killed"], snap.values["runners"]) == (
            None, None, None,
        )  # fmt: skip
        assert snap.values["session_date_source"] == "clock"
        drawn = view.drawer(SYM, STRATEGY)
    assert drawn.errors == {}
    assert drawn["candles"].empty and list(drawn["candles"].columns) == list(CANDLES)
    assert "no signals yet: start `pixity live`" in drawn.notes


def test_with_only_the_ingest_running_the_note_asks_for_the_live_session(tmp_path: Path) -> None:
    write_market(StorePaths(tmp_path))
    result = overview(tmp_path, clock=clock())
    assert result["overview"].empty and result.errors == {}
    assert "no live session yet: start `pixity live`" in result.notes
    assert not any("pixity ingest" in note for note in result.notes)


def test_a_live_session_without_runners_yet_says_so(tmp_path: Path) -> None:
    paths = StorePaths(tmp_path)
    write_market(paths)
    ConfigStore(paths.config).close()  # created, no rows yet
    result = overview(tmp_path, clock=clock())
    assert result["overview"].empty
    assert any("no runners yet" in note for note in result.notes)


def corrupt(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not an SQLite database, whatever it was " * 200)


def test_a_corrupt_store_is_an_error_message_and_the_others_are_still_read(tmp_path: Path) -> None:
    paths = write_all(tmp_path)
    for suffix in ("-wal", "-shm"):
        Path(f"{paths.signals}{suffix}").unlink(missing_ok=True)
    corrupt(paths.signals)
    result = overview(tmp_path, clock=clock())
    assert set(result.errors) == {"signals"}
    assert "signals.db" in result.errors["signals"]
    assert "Traceback" not in result.errors["signals"]
    frame = result["overview"]
    assert len(frame) == 4 and frame["last_signal"].isna().all()
    assert frame["last_price"].notna().any()  # market.db was read all the same
    drawn = drawer(tmp_path, SYM, STRATEGY, clock=clock())
    assert set(drawn.errors) == {"signals"} and not drawn["candles"].empty


def test_a_foreign_sqlite_file_is_reported_not_opened_as_a_store(tmp_path: Path) -> None:
    paths = StorePaths(tmp_path)
    write_market(paths)
    paths.config.parent.mkdir(parents=True)
    with sqlite3.connect(paths.config) as conn:
        conn.execute("CREATE TABLE runner_state (symbol TEXT)")
    result = overview(tmp_path, clock=clock())
    assert "not a pixity config.db" in result.errors["config"]
    assert result["overview"].empty


def test_the_view_recovers_once_a_broken_store_is_replaced(tmp_path: Path) -> None:
    paths = StorePaths(tmp_path)
    write_market(paths)
    corrupt(paths.config)
    with ScannerView(tmp_path, clock=clock()) as view:
        assert "config" in view.refresh().errors
        paths.config.unlink()
        write_config(paths)
        snap = view.refresh()
    assert snap.errors == {} and len(snap["overview"]) == 4


def test_a_store_replaced_on_disk_is_opened_again(tmp_path: Path) -> None:
    paths = write_all(tmp_path)
    with ScannerView(tmp_path, clock=clock()) as view:
        assert len(view.refresh()["overview"]) == 4
        for suffix in ("", "-wal", "-shm"):
            Path(f"{paths.config}{suffix}").unlink(missing_ok=True)
        with ConfigStore(paths.config) as store:
            store.upsert_runner_state(runner(SYM))
        frame = view.refresh()["overview"]
    assert list(frame["symbol"]) == [SYM]


def test_no_reader_holds_a_transaction_after_a_refresh(tmp_path: Path) -> None:
    paths = write_all(tmp_path)
    with ScannerView(tmp_path, clock=clock()) as view:
        for _ in range(3):
            view.refresh()
            view.drawer(SYM, STRATEGY)
            readers = view.open_readers()
            assert set(readers) == {"market", "signals", "config", "paper"}
            assert not any(reader.in_transaction() for reader in readers.values())
        # And so a writer can checkpoint the whole WAL away while the view stays open.
        with MarketStore(paths.market) as store:
            store.write_batch([], [], state=None)
            busy, _log, _done = store.connection.execute(
                "PRAGMA wal_checkpoint(TRUNCATE)"
            ).fetchone()
            assert busy == 0
            assert store.wal_size_bytes() == 0
        with ConfigStore(paths.config) as config:
            config.upsert_runner_state(runner(SYM, status=RunnerStatus.STOPPED))
            assert config.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        snap = view.refresh()
    assert snap["overview"].set_index(["strategy_id", "symbol"]).loc[(STRATEGY, SYM), "status"] == "STOPPED"  # fmt: skip


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO gaps (feed, start_ts, reason) VALUES ('x', '2025-06-02 09:15:00+05:30', 'r')",
        "DELETE FROM bars_1m",
        "CREATE TABLE scribble (x)",
        "PRAGMA user_version = 99",
    ],
)
def test_the_scanner_cannot_write_through_its_connections(tmp_path: Path, statement: str) -> None:
    paths = write_all(tmp_path)
    before = os.stat(paths.market).st_mtime_ns
    with ScannerView(tmp_path, clock=clock()) as view:
        view.refresh()
        readers = view.open_readers()
        market = readers["market"].connection
        with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
            market.execute(statement)
        # Even with query_only switched off, mode=ro still refuses.
        market.execute("PRAGMA query_only = OFF")
        with pytest.raises(sqlite3.OperationalError, match="readonly|read-only"):
            market.execute(statement)
        for key in ("signals", "config", "paper"):
            with pytest.raises(sqlite3.OperationalError):
                readers[key].connection.execute("CREATE TABLE scribble (x)")
        assert not market.in_transaction
    assert os.stat(paths.market).st_mtime_ns == before


def test_a_malformed_time_in_a_store_is_that_stores_error(tmp_path: Path) -> None:
    paths = write_all(tmp_path)
    with ConfigStore(paths.config) as store, store.transaction("spoil a row") as conn:
        conn.execute("UPDATE runner_state SET last_bar_ts = '2025-06-02T09:45' WHERE symbol = ?", (SYM,))  # fmt: skip
    result = overview(tmp_path, clock=clock())
    assert set(result.errors) == {"config"}
    assert "'2025-06-02T09:45' is not YYYY-MM-DD HH:MM:SS+05:30" in result.errors["config"]
    assert result["overview"].empty
