"""The shared SQLite plumbing: pragmas, read-only readers, bounded waits, errors, migrations."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from store_samples import signal

from pixity.errors import SchemaVersionError, StoreBusyError, StoreError, StoreMissingError
from pixity.stores import (
    ConfigReader,
    MarketReader,
    MarketStore,
    PaperReader,
    SignalReader,
    SignalStore,
    StorePaths,
)
from pixity.stores.market import MARKET
from pixity.stores.sqlite import SqliteReader, SqliteWriter, StoreSpec, sql_migration


def pragma(conn: sqlite3.Connection, name: str) -> object:
    return conn.execute(f"PRAGMA {name}").fetchone()[0]


def test_writer_creates_folders_and_sets_wal_pragmas(tmp_path: Path) -> None:
    path = StorePaths(tmp_path / "fresh" / "data").market
    with MarketStore(path, busy_timeout_s=1.5) as store:
        conn = store.connection
        assert path.is_file()
        assert pragma(conn, "journal_mode") == "wal"
        assert pragma(conn, "synchronous") == 1  # NORMAL
        assert pragma(conn, "busy_timeout") == 1500
        assert pragma(conn, "user_version") == MARKET.version  # 2 since ingest_state
        assert conn.isolation_level is None


def test_default_busy_timeout_is_five_seconds(tmp_path: Path) -> None:
    with SignalStore(tmp_path / "s.db") as store, SignalReader(tmp_path / "s.db") as reader:
        assert pragma(store.connection, "busy_timeout") == 5000
        assert pragma(reader.connection, "busy_timeout") == 5000


def test_reader_is_read_only_and_query_only(tmp_path: Path) -> None:
    path = tmp_path / "signals.db"
    SignalStore(path).close()
    with SignalReader(path, busy_timeout_s=0.5) as reader:
        conn = reader.connection
        assert pragma(conn, "query_only") == 1
        assert pragma(conn, "busy_timeout") == 500
        insert = "INSERT INTO signals (signal_id, strategy_id, symbol, signal_type, confidence, bar_ts) VALUES ('x', 's', 'NSE_EQ|X', 'BUY', 0.5, '2024-01-15 09:15:00+05:30')"
        with pytest.raises(sqlite3.OperationalError):
            conn.execute(insert)
        # Even with query_only switched off, mode=ro refuses the write.
        conn.execute("PRAGMA query_only = OFF")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute(insert)
    with SignalReader(path) as reader:
        assert reader.recent() == []


@pytest.mark.parametrize(
    ("reader", "attribute", "writer"),
    [
        (MarketReader, "market", "pixity ingest"),
        (SignalReader, "signals", "pixity live"),
        (ConfigReader, "config", "pixity live"),
        (PaperReader, "paper", "pixity live"),
    ],
)
def test_reader_of_a_missing_store_names_the_file_and_its_writer(
    tmp_path: Path, reader: type[SqliteReader], attribute: str, writer: str
) -> None:
    path = getattr(StorePaths(tmp_path), attribute)
    with pytest.raises(StoreMissingError) as caught:
        reader(path)  # type: ignore[call-arg]
    assert str(path) in str(caught.value)
    assert writer in str(caught.value)
    assert not path.exists()  # a reader never creates a store


def test_locked_store_raises_store_busy_within_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "signals.db"
    with SignalStore(path, busy_timeout_s=0.2) as store:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            with pytest.raises(StoreBusyError) as caught:
                store.save_signal(signal())
            took = time.monotonic() - started
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert 0.15 < took < 2.0
        message = str(caught.value)
        assert "signals.db" in message and "save signal" in message and "0.20 s" in message
        assert store.save_signal(signal())  # the lock is gone: the same write goes through


def test_opening_a_writer_on_a_locked_store_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "signals.db"
    SignalStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(StoreBusyError):
            SignalStore(path, busy_timeout_s=0.2)
        assert time.monotonic() - started < 2.0
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_reader_is_not_blocked_by_a_writer_holding_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "signals.db"
    with SignalStore(path) as store, SignalReader(path, busy_timeout_s=0.2) as reader:
        store.save_signal(signal())
        with store.transaction("hold the write lock") as conn:
            conn.execute("UPDATE signals SET status = 'FILLED'")
            assert [s.status.value for s in reader.recent()] == ["PENDING"]
        assert [s.status.value for s in reader.recent()] == ["FILLED"]


def test_reader_holds_no_transaction_between_calls(tmp_path: Path) -> None:
    path = tmp_path / "signals.db"
    with SignalStore(path) as store, SignalReader(path) as reader:
        store.save_signal(signal())
        before = reader.data_version()
        reader.recent()
        reader.get(signal().signal_id)
        assert not reader.in_transaction()
        with reader.snapshot():
            assert reader.in_transaction()
            reader.recent()
        assert not reader.in_transaction()
        store.save_signal(signal(minute=15))
        assert reader.data_version() != before


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    path = tmp_path / "signals.db"
    with SignalStore(path) as store:
        with pytest.raises(RuntimeError), store.transaction("half a write") as conn:
            conn.execute("UPDATE signals SET status = 'FILLED'")
            raise RuntimeError("boom")
        with pytest.raises(StoreError, match="signals.db.*bad write.*CHECK") as caught:
            with store.transaction("bad write") as conn:
                conn.execute(
                    "INSERT INTO signals (signal_id, strategy_id, symbol, signal_type, "
                    "confidence, bar_ts) VALUES ('a', 's', 'NSE_EQ|X', 'BUY', 0.5, "
                    "'2024-01-15 09:15:00+05:30')"
                )
                conn.execute("UPDATE signals SET confidence = 7")
        assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
        assert not store.connection.in_transaction
        assert store.connection.execute("SELECT COUNT(*) FROM signals").fetchone()[0] == 0


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "signals.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="signals.db"):
        SignalStore(path)
    with pytest.raises(StoreError, match="signals.db"):
        SignalReader(path)


def test_busy_timeout_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="busy timeout"):
        SignalStore(tmp_path / "s.db", busy_timeout_s=0)


def test_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = SignalStore(tmp_path / "s.db")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.save_signal(signal())


# ---------------------------------------------------------------- migrations

V1 = sql_migration(
    "CREATE TABLE items (item_id INTEGER PRIMARY KEY, price_text TEXT NOT NULL)",
)
V2 = sql_migration(
    "ALTER TABLE items ADD COLUMN price_paise INTEGER",
    "UPDATE items SET price_paise = CAST(ROUND(CAST(price_text AS REAL) * 100) AS INTEGER)",
)


def fail_halfway(conn: sqlite3.Connection) -> None:
    V2(conn)
    raise sqlite3.OperationalError("disk I/O error (simulated)")


SPEC_V1 = StoreSpec(name="items.db", writer="the items test", migrations=(V1,))
SPEC_V2 = StoreSpec(name="items.db", writer="the items test", migrations=(V1, V2))
SPEC_BROKEN = StoreSpec(name="items.db", writer="the items test", migrations=(V1, fail_halfway))


def write_v1_items(path: Path) -> None:
    with SqliteWriter(path, SPEC_V1, busy_timeout_s=1) as store:
        with store.transaction("add items") as conn:
            conn.executemany(
                "INSERT INTO items (price_text) VALUES (?)", [("101.25",), ("99.5",), ("7",)]
            )


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def test_writer_migrates_an_older_store_and_transforms_its_data(tmp_path: Path) -> None:
    path = tmp_path / "items.db"
    write_v1_items(path)
    with SqliteWriter(path, SPEC_V2, busy_timeout_s=1) as store:
        conn = store.connection
        assert pragma(conn, "user_version") == 2
        assert columns(conn, "items") == ["item_id", "price_text", "price_paise"]
        rows = conn.execute("SELECT price_text, price_paise FROM items ORDER BY item_id")
        assert rows.fetchall() == [("101.25", 10125), ("99.5", 9950), ("7", 700)]
    with SqliteReader(path, SPEC_V2, busy_timeout_s=1) as reader:
        assert reader.connection.execute("SELECT SUM(price_paise) FROM items").fetchone() == (
            20775,
        )


def test_fresh_store_runs_every_migration(tmp_path: Path) -> None:
    with SqliteWriter(tmp_path / "items.db", SPEC_V2, busy_timeout_s=1) as store:
        assert pragma(store.connection, "user_version") == 2
        assert "price_paise" in columns(store.connection, "items")


def test_a_failed_migration_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "items.db"
    write_v1_items(path)
    with pytest.raises(StoreError, match="simulated"):
        SqliteWriter(path, SPEC_BROKEN, busy_timeout_s=1)
    with SqliteReader(path, SPEC_V1, busy_timeout_s=1) as reader:
        assert pragma(reader.connection, "user_version") == 1
        assert columns(reader.connection, "items") == ["item_id", "price_text"]


def test_newer_store_is_refused_by_writer_and_reader(tmp_path: Path) -> None:
    path = tmp_path / "items.db"
    SqliteWriter(path, SPEC_V2, busy_timeout_s=1).close()
    for opener in (SqliteWriter, SqliteReader):
        with pytest.raises(SchemaVersionError) as caught:
            opener(path, SPEC_V1, busy_timeout_s=1)
        message = str(caught.value)
        assert str(path) in message
        assert "version 2" in message and "version 1" in message
        assert "upgrade pixity" in message


def test_reader_of_an_older_store_says_the_writer_migrates_it(tmp_path: Path) -> None:
    path = tmp_path / "items.db"
    write_v1_items(path)
    with pytest.raises(SchemaVersionError, match="the items test migrates it on its next start"):
        SqliteReader(path, SPEC_V2, busy_timeout_s=1)
    with SqliteReader(path, SPEC_V1, busy_timeout_s=1) as reader:  # untouched
        assert pragma(reader.connection, "user_version") == 1


OLD_PIPELINE_SIGNALS = """
CREATE TABLE signals (
    signal_id TEXT PRIMARY KEY, strategy_id TEXT, symbol TEXT, signal_type TEXT,
    confidence REAL, bar_ts TEXT, status TEXT DEFAULT 'PENDING',
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
INSERT INTO signals (signal_id, strategy_id, symbol, signal_type, confidence, bar_ts)
VALUES ('abc', 'pixityAI_meta', 'NSE_EQ|INE155A01022', 'BUY', 0.7, NULL);
"""


def test_old_pipeline_signals_db_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = StorePaths(tmp_path).signals
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as old:
        old.executescript(OLD_PIPELINE_SIGNALS)
    old.close()
    for opener in (SignalStore, SignalReader):
        with pytest.raises(SchemaVersionError) as caught:
            opener(path)
        message = str(caught.value)
        assert str(path) in message and "signals" in message
        assert "not a pixity signals.db" in message and "move it aside" in message
    with sqlite3.connect(path) as old:
        assert old.execute("PRAGMA user_version").fetchone() == (0,)
        assert old.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert old.execute("SELECT signal_id, bar_ts FROM signals").fetchall() == [("abc", None)]
    old.close()


def test_a_reader_never_sees_a_store_being_created(tmp_path: Path) -> None:
    """While the writer creates market.db, readers see no file or a whole store, nothing between."""
    from pixity.stores.market import MarketReader, MarketStore

    seen: list[str] = []
    for attempt in range(40):
        path = tmp_path / f"run{attempt}" / "market.db"
        stop = threading.Event()

        def hammer(path: Path = path, stop: threading.Event = stop) -> None:
            while not stop.is_set():
                try:
                    MarketReader(path).close()
                    seen.append("ok")
                except StoreMissingError:
                    seen.append("missing")
                except Exception as exc:  # noqa: BLE001 - any other error is the failure
                    seen.append(f"{type(exc).__name__}: {exc}")

        reader = threading.Thread(target=hammer)
        reader.start()
        try:
            MarketStore(path).close()
            time.sleep(0.002)
        finally:
            stop.set()
            reader.join(10)
    assert [s for s in seen if s not in ("ok", "missing")] == []
    assert "ok" in seen and "missing" in seen
    assert not list(tmp_path.rglob(".market.db.creating-*"))
