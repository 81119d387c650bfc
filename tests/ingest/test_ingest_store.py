"""market.db schema versions 2 (ingest_state) and 3 (the ticks' key): migrations, read back."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from ingest_support import SYM, SYM2, T0

from pixity.domain import Tick
from pixity.errors import InvalidValueError
from pixity.markettime import from_epoch_ms
from pixity.stores.market import MARKET, IngestState, MarketReader, MarketStore
from pixity.stores.sqlite import StoreSpec, connect_writer


def tick(symbol: str, seq: int, vtt: int | None) -> Tick:
    return Tick(symbol=symbol, ts=T0, price=10.0, last_qty=1, cum_volume=vtt, volume=1, seq=seq)


DAY = T0.date()


def state(offset: int, *, day: date = DAY) -> IngestState:
    return IngestState(
        session_date=day,
        journal_file="journal/2025-06-02.journal",
        journal_offset=offset,
        next_seq=7,
        feed_clock_ms=1_748_835_900_123,
    )


def test_state_commits_with_the_batch_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "market.db"
    with MarketStore(path) as store:
        assert store.write_batch([tick(SYM, 0, 100), tick(SYM, 1, 90)], [], state=state(40)) == 2
        store.write_batch([tick(SYM2, 2, None)], [], state=state(80))
    with MarketReader(path) as reader:
        assert reader.ingest_state() == state(80)
        assert reader.tick_high_water() == {SYM: 100}
        assert {k: t.seq for k, t in reader.last_ticks().items()} == {SYM: 1, SYM2: 2}


def test_roll_over_deletes_the_day_and_marks_the_state(tmp_path: Path) -> None:
    path = tmp_path / "market.db"
    with MarketStore(path) as store:
        store.write_batch([tick(SYM, 0, 100)], [], state=state(40))
        assert store.roll_over_session(T0.date()) == (1, 0)
    with MarketReader(path) as reader:
        held = reader.ingest_state()
        assert held is not None and held.rolled_over and reader.count_ticks() == 0


def test_session_frames_of_an_empty_day_are_empty_lake_frames(tmp_path: Path) -> None:
    """A day with no ticks (heartbeats only) must roll over like any other."""
    with MarketStore(tmp_path / "market.db") as store:
        bars, ticks = store.session_frames(T0.date())
    assert bars.empty and ticks.empty
    assert str(bars["bar_ts"].dtype) == "datetime64[us, Asia/Kolkata]"


def test_version_1_file_migrates_to_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "market.db"
    v1 = StoreSpec(name=MARKET.name, writer=MARKET.writer, migrations=MARKET.migrations[:1])
    connect_writer(path, v1, 1.0).close()
    with MarketStore(path) as store:
        assert store.connection.execute("PRAGMA user_version").fetchone() == (3,)
    with MarketReader(path) as reader:
        assert reader.ingest_state() is None


def ticks_key(conn: sqlite3.Connection) -> list[str]:
    info = conn.execute("PRAGMA table_info(ticks)").fetchall()
    return [row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5])]


def test_version_2_ticks_keep_their_rows_rowids_and_duplicate_rule(tmp_path: Path) -> None:
    """v3 reorders the ticks' key to (seq, symbol, ltt): same rows, same rowids, same refusals;
    a reader still opens a v2 buffer (a newer scanner beside an older, running ingest)."""
    path = tmp_path / "market.db"
    v2 = StoreSpec(name=MARKET.name, writer=MARKET.writer, migrations=MARKET.migrations[:2])
    written = [tick(SYM, 0, 100), tick(SYM2, 1, None), tick(SYM, 2, 120)]
    conn = connect_writer(path, v2, 1.0)
    assert ticks_key(conn) == ["symbol", "ltt", "seq"]
    with conn:
        conn.executemany(
            "INSERT INTO ticks (symbol, ltt, ltp, ltq, vtt, seq, volume) VALUES (?,?,?,?,?,?,?)",
            [(t.symbol, 1_748_835_900_000 + t.seq, t.price, t.last_qty, t.cum_volume, t.seq,
              t.volume) for t in written],
        )  # fmt: skip
        conn.execute("DELETE FROM ticks WHERE seq = 1")  # a hole: rowids 1 and 3 are left
    before = conn.execute("SELECT rowid, * FROM ticks ORDER BY rowid").fetchall()
    conn.close()
    with MarketReader(path) as reader:  # v2 is still readable
        assert reader.count_ticks() == 2
    with MarketStore(path) as store:
        conn = store.connection
        assert conn.execute("PRAGMA user_version").fetchone() == (3,)
        assert ticks_key(conn) == ["seq", "symbol", "ltt"]
        assert conn.execute("SELECT rowid, * FROM ticks ORDER BY rowid").fetchall() == before
        again = Tick(symbol=SYM, ts=from_epoch_ms(1_748_835_900_002), price=10.0, last_qty=1,
                     cum_volume=120, volume=1, seq=2)  # fmt: skip
        assert store.write_batch([again], []) == 0  # the same (symbol, ltt, seq): refused
        assert store.write_batch([tick(SYM2, 3, None)], []) == 1
    with MarketReader(path) as reader:
        assert reader.count_ticks() == 3 and reader.tick_high_water() == {SYM: 120}
        assert {k: t.seq for k, t in reader.last_ticks().items()} == {SYM: 2, SYM2: 3}


def test_bad_state_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidValueError):
        state(-1)
    with MarketStore(tmp_path / "m.db") as store, pytest.raises(sqlite3.Error):
        store.connection.execute(
            "INSERT INTO ingest_state (session_date, journal_file, journal_offset, next_seq) "
            "VALUES ('2025-6-2', 'j', 0, 0)"
        )


def test_ticks_in_spans_reads_each_symbols_span_in_seq_order(tmp_path: Path) -> None:
    """What a restart's restore reads in one pass: per symbol, its span only, by seq."""

    def at(symbol: str, seconds: int, seq: int) -> Tick:
        return Tick(symbol=symbol, ts=T0 + timedelta(seconds=seconds), price=10.0, last_qty=1,
                    cum_volume=None, volume=1, seq=seq)  # fmt: skip

    written = [at(SYM, 70, 0), at(SYM2, 5, 1), at(SYM, 61, 2), at(SYM, 120, 3), at(SYM, 59, 4)]
    with MarketStore(tmp_path / "market.db") as store:
        store.write_batch(written, [])
    minute = timedelta(minutes=1)
    spans = {SYM: (T0 + minute, T0 + 2 * minute), SYM2: (T0, T0 + minute)}
    with MarketReader(tmp_path / "market.db") as reader:
        got = reader.ticks_in_spans(spans)
        assert {s: [t.seq for t in ts] for s, ts in got.items()} == {SYM: [0, 2], SYM2: [1]}
        assert reader.ticks_in_spans({}) == {}
        assert reader.ticks_in_spans({SYM: (T0 + 3 * minute, T0 + 4 * minute)}) == {SYM: []}
