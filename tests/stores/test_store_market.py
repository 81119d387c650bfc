"""market.db: ticks, 1m bars, feed status and gaps, written by ingest and read back."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_samples import SYM, SYM2, T0, bar, gap, tick

from pixity.domain import Bar, FeedState, FeedStatus, Tick, tick_row
from pixity.errors import DataIntegrityError, InvalidValueError, StoreError
from pixity.markettime import IST, ist
from pixity.stores import MarketReader, MarketStore, StorePaths


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return StorePaths(tmp_path).market


@pytest.fixture
def store(path: Path) -> Iterator[MarketStore]:
    with MarketStore(path) as opened:
        yield opened


@pytest.fixture
def reader(store: MarketStore, path: Path) -> Iterator[MarketReader]:
    with MarketReader(path) as opened:
        yield opened


def count(store: MarketStore, table: str) -> int:
    return int(store.connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.mark.parametrize("cum_volume", [4321, None])
def test_tick_round_trips_every_field(
    store: MarketStore, reader: MarketReader, cum_volume: int | None
) -> None:
    written = tick(3, cum_volume=cum_volume)
    store.write_batch([written], [])
    (read,) = reader.ticks()
    for field in dataclasses.fields(Tick):
        assert getattr(read, field.name) == getattr(written, field.name), field.name
    assert read == written
    assert read.ts.tzinfo == IST


@pytest.mark.parametrize("closed", [True, False])
def test_bar_round_trips_every_field(
    store: MarketStore, reader: MarketReader, closed: bool
) -> None:
    written = bar(4, closed=closed)
    store.write_batch([], [written])
    (read,) = reader.bars_1m()
    for field in dataclasses.fields(Bar):
        assert getattr(read, field.name) == getattr(written, field.name), field.name
    assert read == written
    row = store.connection.execute("SELECT bar_ts, closed FROM bars_1m").fetchone()
    assert row == ("2024-01-15 09:19:00+05:30", int(closed))


def test_replaying_ticks_and_bars_adds_no_rows(store: MarketStore, reader: MarketReader) -> None:
    ticks = [tick(i) for i in range(50)] + [tick(i, SYM2) for i in range(50)]
    bars = [bar(m) for m in range(5)] + [bar(5, closed=False)]
    assert store.write_batch(ticks, bars) == 100
    for _ in range(3):
        assert store.write_batch(ticks, bars) == 0
        assert store.write_batch(ticks[10:20], bars[2:4]) == 0
    assert count(store, "ticks") == 100
    assert count(store, "bars_1m") == 6
    assert reader.count_ticks() == 100 and reader.count_ticks(SYM2) == 50
    assert reader.ticks(symbols=[SYM2]) == ticks[50:]
    assert reader.bars_1m() == bars


def test_closed_bar_is_never_overwritten_by_a_forming_one(
    store: MarketStore, reader: MarketReader
) -> None:
    forming_early = bar(0, closed=False, ticks=3)
    forming_later = bar(0, closed=False, ticks=5)
    closed = bar(0, closed=True, ticks=6)
    store.write_batch([], [forming_early])
    store.write_batch([], [forming_later])
    assert reader.bars_1m() == [forming_later]
    store.write_batch([], [forming_early])  # a replayed older batch does not roll it back
    assert reader.bars_1m() == [forming_later]
    store.write_batch([], [closed])
    assert reader.bars_1m() == [closed]
    store.write_batch([], [bar(0, closed=False, ticks=9)])
    store.write_batch([], [dataclasses.replace(closed, close=101.0)])  # closed is final
    assert reader.bars_1m() == [closed]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    price=st.floats(min_value=5e-324, max_value=1e300, allow_nan=False, allow_infinity=False),
    qty=st.integers(min_value=0, max_value=2**63 - 1),
)
def test_tick_rows_keep_every_float_and_int_exactly(
    store: MarketStore, price: float, qty: int
) -> None:
    """Rows reach SQLite as JSON text: each number must parse back to the very same value."""
    row = (SYM, 1_748_835_900_123, price, qty, qty, 0, qty)
    store.connection.execute("DELETE FROM ticks")
    assert store.write_rows([row], []) == 1
    stored = store.connection.execute("SELECT ltp, ltq, vtt, volume FROM ticks").fetchone()
    assert stored == (price, qty, qty, qty)
    assert type(stored[0]) is float and type(stored[1]) is int


def test_numpy_values_in_rows_are_stored_as_their_python_values(
    store: MarketStore, reader: MarketReader
) -> None:
    written = tick(2)
    symbol, ltt, ltp, ltq, vtt, seq, volume = tick_row(written)
    assert vtt is not None
    row = (symbol, np.int64(ltt), np.float64(ltp), np.int64(ltq), np.int64(vtt), seq, volume)
    assert store.write_rows([row], []) == 1  # type: ignore[list-item]
    assert reader.ticks() == [written]


def test_a_row_past_64_bit_ints_is_judged_by_the_table_not_the_encoder(
    store: MarketStore,
) -> None:
    """orjson refuses such an int; the row goes through ``json`` and the CHECK refuses it."""
    row = (SYM, 1_748_835_900_123, 100.5, 3, None, 0, -(2**70))
    with pytest.raises(StoreError, match="CHECK constraint failed"):
        store.write_rows([row], [])
    assert count(store, "ticks") == 0


def test_write_batch_refuses_bars_that_are_not_one_minute(store: MarketStore) -> None:
    fifteen = dataclasses.replace(bar(0), minutes=15)
    with pytest.raises(InvalidValueError, match="1-minute"):
        store.write_batch([tick(0)], [fifteen])
    assert count(store, "ticks") == 0  # nothing of the batch was written


def test_bar_filters(store: MarketStore, reader: MarketReader) -> None:
    bars = [bar(0), bar(1), bar(0, SYM2), bar(2, SYM2, closed=False)]
    store.write_batch([], bars)
    assert reader.bars_1m(symbols=[SYM2]) == [bars[2], bars[3]]
    assert reader.bars_1m(symbols=[]) == []
    assert reader.bars_1m(since=T0 + timedelta(seconds=30)) == [bars[1], bars[3]]
    # `since` in another zone means the same instant.
    since_utc = (T0 + timedelta(minutes=1, microseconds=5)).astimezone(UTC)
    assert reader.bars_1m(since=since_utc) == [bars[1], bars[3]]
    assert reader.bars_1m(closed_only=True) == [bars[2], bars[0], bars[1]]  # by time, symbol
    assert reader.latest_bar_ts() == T0 + timedelta(minutes=2)
    assert reader.latest_bar_ts(SYM) == T0 + timedelta(minutes=1)
    assert reader.latest_bar_ts("NSE_EQ|INE000000000") is None


def test_tick_filters(store: MarketStore, reader: MarketReader) -> None:
    ticks = [tick(i) for i in range(10)] + [tick(i, SYM2) for i in range(10)]
    store.write_batch(ticks, [])
    since = ticks[5].ts
    assert reader.ticks(symbols=[SYM], since=since) == ticks[5:10]
    assert reader.ticks(limit=3) == [ticks[10], ticks[0], ticks[11]]  # by ltt, seq, symbol


def test_feed_status_round_trips_every_field(store: MarketStore, reader: MarketReader) -> None:
    assert reader.feed_statuses() == []
    status = FeedStatus(
        feed="upstox",
        state=FeedState.CONNECTED,
        last_tick_ts=ist(2024, 1, 15, 10, 1, 2),
        last_message_at=datetime(2024, 1, 15, 4, 31, 3, tzinfo=UTC),
        reconnects=2,
        last_error="websocket closed: 1006",
    )
    store.upsert_feed_status(status)
    (stored,) = reader.feed_statuses()
    assert stored.status == status
    assert stored.status.connected
    assert abs(stored.updated_at - datetime.now(UTC)) < timedelta(minutes=1)
    down = dataclasses.replace(
        status, state=FeedState.DISCONNECTED, last_tick_ts=None, last_message_at=None
    )
    store.upsert_feed_status(down)
    store.upsert_feed_status(dataclasses.replace(status, feed="local"))
    assert [s.status for s in reader.feed_statuses()] == [
        dataclasses.replace(status, feed="local"),
        down,
    ]
    row = store.connection.execute("SELECT connected FROM feed_status WHERE feed = 'upstox'")
    assert row.fetchone() == (0,)


def test_feed_status_rejects_bad_values() -> None:
    with pytest.raises(InvalidValueError):
        FeedStatus(
            feed="upstox",
            state=FeedState.CONNECTED,
            last_tick_ts=datetime(2024, 1, 15, 10, 0),  # noqa: DTZ001 - naive on purpose
            last_message_at=None,
            reconnects=0,
            last_error=None,
        )


@pytest.mark.parametrize("closed", [True, False])
def test_gap_round_trips_every_field(
    store: MarketStore, reader: MarketReader, closed: bool
) -> None:
    written = gap(end=closed)
    gap_id = store.record_gap(written)
    (stored,) = reader.gaps()
    assert stored.gap_id == gap_id
    assert stored.gap == written
    assert abs(stored.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert reader.gaps(open_only=True) == ([] if closed else [stored])


def test_gap_is_recorded_once_and_closed_once(store: MarketStore, reader: MarketReader) -> None:
    opened = gap(end=False)
    gap_id = store.record_gap(opened)
    assert store.record_gap(opened) == gap_id
    end = ist(2024, 1, 15, 10, 5)
    store.close_gap(gap_id, end)
    store.close_gap(gap_id, end)  # replay: same end, nothing changes
    assert store.record_gap(opened) == gap_id  # a replayed open gap does not reopen it
    (stored,) = reader.gaps(feed="upstox")
    assert stored.gap == dataclasses.replace(opened, end=end)
    assert reader.gaps(feed="other") == []
    with pytest.raises(DataIntegrityError, match="already closed"):
        store.close_gap(gap_id, end + timedelta(minutes=1))
    with pytest.raises(StoreError, match="no gap 999"):
        store.close_gap(999, end)
    with pytest.raises(StoreError, match="CHECK"):  # an end before the start
        store.close_gap(
            store.record_gap(dataclasses.replace(opened, feed="b")),
            opened.start - timedelta(seconds=1),
        )
    assert count(store, "gaps") == 2


def test_reader_reports_a_corrupt_row_as_a_data_integrity_error(
    store: MarketStore, reader: MarketReader
) -> None:
    store.write_batch([], [bar(0)])
    # Something other than pixity wrote a bar_ts without its offset.
    store.connection.execute("UPDATE bars_1m SET bar_ts = '2024-01-15 09:15:00'")
    with pytest.raises(DataIntegrityError, match="bars_1m"):
        reader.bars_1m()


def test_writer_reports_wal_size(store: MarketStore) -> None:
    store.write_batch([tick(i) for i in range(100)], [])
    assert store.wal_size_bytes() > 0
