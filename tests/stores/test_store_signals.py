"""signals.db: every Signal field survives the round trip; replays insert nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_samples import STRATEGY, SYM, SYM2, signal

from pixity.domain import Signal, SignalStatus, SignalType
from pixity.errors import InvalidValueError, StoreError
from pixity.stores import SignalReader, SignalStore, StorePaths


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return StorePaths(tmp_path).signals


@pytest.fixture
def store(path: Path) -> Iterator[SignalStore]:
    with SignalStore(path) as opened:
        yield opened


@pytest.fixture
def reader(store: SignalStore, path: Path) -> Iterator[SignalReader]:
    with SignalReader(path) as opened:
        yield opened


@pytest.mark.parametrize("kind", list(SignalType))
def test_signal_round_trips_every_field(
    store: SignalStore, reader: SignalReader, kind: SignalType
) -> None:
    written = signal(minute=30, kind=kind)
    assert store.save_signal(written)
    stored = reader.get(written.signal_id)
    assert stored is not None
    for field in dataclasses.fields(Signal):
        assert getattr(stored.signal, field.name) == getattr(written, field.name), field.name
    assert stored.signal == written
    assert stored.status is SignalStatus.PENDING and stored.status_reason is None
    assert abs(stored.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert stored.updated_at == stored.created_at
    row = store.connection.execute("SELECT bar_ts, status FROM signals").fetchone()
    assert row == ("2024-01-15 09:45:00+05:30", "PENDING")


def test_replaying_signals_inserts_nothing(store: SignalStore, reader: SignalReader) -> None:
    signals = [signal(m, s) for m in (0, 15, 30) for s in (SYM, SYM2)]
    assert [store.save_signal(s) for s in signals] == [True] * 6
    for _ in range(3):
        assert [store.save_signal(s) for s in signals] == [False] * 6
    # The same (strategy, symbol, bar, type) under another id is the same signal.
    twin = dataclasses.replace(signals[0], signal_id="another-id", confidence=0.2)
    assert not store.save_signal(twin)
    assert store.connection.execute("SELECT COUNT(*) FROM signals").fetchone() == (6,)
    assert reader.get("another-id") is None


def test_set_status(store: SignalStore, reader: SignalReader) -> None:
    written = signal()
    store.save_signal(written)
    store.set_status(written.signal_id, SignalStatus.REJECTED, "max capital reached")
    stored = reader.get(written.signal_id)
    assert stored is not None
    assert stored.status is SignalStatus.REJECTED
    assert stored.status_reason == "max capital reached"
    assert stored.signal == written
    store.set_status(written.signal_id, SignalStatus.FILLED, None)
    stored = reader.get(written.signal_id)
    assert stored is not None and stored.status is SignalStatus.FILLED
    assert stored.status_reason is None
    assert not store.save_signal(written)  # a replay does not reset the status
    assert reader.get(written.signal_id).status is SignalStatus.FILLED  # type: ignore[union-attr]


def test_set_status_refuses_unknown_signals_and_missing_reasons(store: SignalStore) -> None:
    with pytest.raises(StoreError, match="no signal nope"):
        store.set_status("nope", SignalStatus.FILLED, None)
    store.save_signal(signal())
    with pytest.raises(InvalidValueError, match="reason"):
        store.set_status(signal().signal_id, SignalStatus.REJECTED, None)


def test_recent_filters_and_orders_newest_first(store: SignalStore, reader: SignalReader) -> None:
    signals = [signal(m, s) for m in (0, 15, 30) for s in (SYM, SYM2)]
    for s in signals:
        store.save_signal(s)
    assert [r.signal for r in reader.recent()] == signals[::-1]
    assert [r.signal for r in reader.recent(symbol=SYM2, limit=2)] == [signals[5], signals[3]]
    assert [r.signal for r in reader.recent(strategy_id=STRATEGY, symbol=SYM)] == [
        signals[4],
        signals[2],
        signals[0],
    ]
    assert reader.recent(strategy_id="other") == []
    assert reader.count_since(datetime.now(UTC) - timedelta(days=1)) == 6
    assert reader.count_since(datetime.now(UTC) + timedelta(minutes=5)) == 0


def test_schema_refuses_a_signal_without_bar_ts(store: SignalStore) -> None:
    with pytest.raises(StoreError, match="NOT NULL"), store.transaction("raw insert") as conn:
        conn.execute(
            "INSERT INTO signals (signal_id, strategy_id, symbol, signal_type, confidence) "
            "VALUES ('x', 's', 'NSE_EQ|INE155A01022', 'BUY', 0.5)"
        )
    with pytest.raises(StoreError, match="CHECK"), store.transaction("raw insert") as conn:
        conn.execute(
            "INSERT INTO signals (signal_id, strategy_id, symbol, signal_type, confidence, "
            "bar_ts) VALUES ('x', 's', 'NSE_EQ|INE155A01022', 'BUY', 0.5, '2024-01-15T09:15')"
        )
