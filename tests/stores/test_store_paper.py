"""paper.db: orders, fills, positions, daily P&L and risk events, round trip and replay."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from store_samples import STRATEGY, SYM, day_pnl, fill, order, position, risk_event

from pixity.domain import DayPnl, Fill, Order, OrderStatus, OrderType, Position, RiskEvent, Side
from pixity.errors import StoreError
from pixity.markettime import ist
from pixity.stores import PaperReader, PaperStore, StorePaths


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return StorePaths(tmp_path).paper


@pytest.fixture
def store(path: Path) -> Iterator[PaperStore]:
    with PaperStore(path) as opened:
        yield opened


@pytest.fixture
def reader(store: PaperStore, path: Path) -> Iterator[PaperReader]:
    with PaperReader(path) as opened:
        yield opened


def assert_same_fields(read: Any, written: Any) -> None:
    for field in dataclasses.fields(written):
        assert getattr(read, field.name) == getattr(written, field.name), field.name
    assert read == written


def count(store: PaperStore, table: str) -> int:
    return int(store.connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


ORDERS = [
    order(),
    order(
        order_type=OrderType.MARKET,
        limit_price=None,
        side=Side.BUY,
        signal_id=None,
        reason=None,
        status=OrderStatus.FILLED,
    ),
    order(status=OrderStatus.REJECTED, reason="gross exposure above max capital"),
    order(status=OrderStatus.CANCELLED),
]


@pytest.mark.parametrize("written", ORDERS)
def test_order_round_trips_every_field(
    store: PaperStore, reader: PaperReader, written: Order
) -> None:
    assert store.save_order(written)
    (read,) = reader.orders()
    assert_same_fields(read, written)


def test_update_order(store: PaperStore, reader: PaperReader) -> None:
    store.save_order(order())
    filled = dataclasses.replace(order(), status=OrderStatus.FILLED, reason="filled at 101.4")
    store.update_order(filled)
    assert reader.orders(status=OrderStatus.FILLED) == [filled]
    assert reader.orders(status=OrderStatus.OPEN) == []
    assert not store.save_order(order())  # a replayed save does not undo the update
    assert reader.orders(strategy_id=STRATEGY, symbol=SYM) == [filled]
    with pytest.raises(StoreError, match="no order ord-9"):
        store.update_order(order("ord-9"))


def test_fill_round_trips_every_field(store: PaperStore, reader: PaperReader) -> None:
    written = fill()
    assert store.save_fill(written)
    (read,) = reader.fills(order_id="ord-1")
    assert_same_fields(read, written)
    assert reader.fills(symbol="NSE_EQ|INE000000000") == []


@pytest.mark.parametrize("quantity", [-40, 0, 25])
def test_position_round_trips_every_field(
    store: PaperStore, reader: PaperReader, quantity: int
) -> None:
    written = position(quantity)
    store.upsert_position(written)
    (read,) = reader.positions(strategy_id=STRATEGY)
    assert_same_fields(read, written)


def test_position_upsert_keeps_one_row(store: PaperStore, reader: PaperReader) -> None:
    store.upsert_position(position(-40))
    flat = dataclasses.replace(position(0), realised_pnl=310.0, ts=ist(2024, 1, 15, 15, 15))
    store.upsert_position(flat)
    assert reader.positions() == [flat]


@pytest.mark.parametrize("killed", [True, False])
def test_day_pnl_round_trips_every_field(
    store: PaperStore, reader: PaperReader, killed: bool
) -> None:
    written = day_pnl(killed)
    store.upsert_day_pnl(written)
    read = reader.day_pnl("2024-01-15")
    assert_same_fields(read, written)
    assert reader.day_pnl("2024-01-16") is None
    store.upsert_day_pnl(dataclasses.replace(written, realised=1.0))
    assert count(store, "daily_pnl") == 1


@pytest.mark.parametrize("symbol", [SYM, None])
def test_risk_event_round_trips_every_field(
    store: PaperStore, reader: PaperReader, symbol: str | None
) -> None:
    written = risk_event(symbol)
    assert store.record_risk_event(written)
    (read,) = reader.risk_events()
    assert_same_fields(read, written)
    assert reader.risk_events(since=ist(2024, 1, 15, 15, 1)) == []


def test_replaying_fills_orders_and_risk_events_adds_no_rows(
    store: PaperStore, reader: PaperReader
) -> None:
    fills = [fill(f"fill-{i}") for i in range(3)]
    events = [risk_event(SYM), risk_event(None), risk_event(None, "square-off at 15:15")]
    for _ in range(3):
        for item in fills:
            store.save_fill(item)
        for event in events:
            store.record_risk_event(event)
        store.save_order(order())
    assert count(store, "fills") == 3
    assert count(store, "risk_events") == 3
    assert count(store, "orders") == 1
    assert not store.save_fill(fills[0])
    assert not store.record_risk_event(events[1])
    assert reader.fills() == fills
    assert sorted(reader.risk_events(), key=str) == sorted(events, key=str)


@pytest.mark.parametrize(
    "cls", [Order, Fill, Position, DayPnl, RiskEvent], ids=lambda c: c.__name__
)
def test_every_domain_field_has_a_column(store: PaperStore, cls: type) -> None:
    table = {
        Order: "orders",
        Fill: "fills",
        Position: "positions",
        DayPnl: "daily_pnl",
        RiskEvent: "risk_events",
    }[cls]
    columns = {row[1] for row in store.connection.execute(f"PRAGMA table_info({table})")}
    assert {f.name for f in dataclasses.fields(cls)} <= columns
