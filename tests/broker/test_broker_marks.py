"""What the backtest's fast path relies on: ``take_marks`` is ``on_price`` of prices that can
change nothing but the marks, and the book's cached figures are the figures."""

from __future__ import annotations

import dataclasses
import random
from datetime import time

from broker_helpers import CONFIG, DAY, STRATEGY, A, B, C, FakeLedger, at

from pixity.broker import BrokerConfig, PaperBroker
from pixity.broker.book import Book, signed_quantity
from pixity.domain import Fill, Order, OrderStatus, OrderType, Side, Signal, SignalType


def broker(config: BrokerConfig = CONFIG) -> PaperBroker:
    return PaperBroker(config, FakeLedger(), session_date=DAY, on_outcome=lambda _o: None)


def signal(symbol: str, kind: SignalType, hh_mm: str) -> Signal:
    return Signal.create(strategy_id=STRATEGY, symbol=symbol, timestamp=at(hh_mm),
                         signal_type=kind, confidence=0.5)  # fmt: skip


def state(b: PaperBroker) -> tuple[object, ...]:
    return (b.day_pnl, b.equity_point(), b.positions(), b.open_orders(), b.activity, b.killed)


def test_take_marks_leaves_the_broker_as_on_price_would() -> None:
    early = dataclasses.replace(CONFIG, entry_cutoff=time(9, 31), square_off=time(9, 33))
    fed, marked = broker(early), broker(early)
    for b in (fed, marked):
        b.on_price(A, 100.0, at("09:29:59"))
        b.submit(signal(A, SignalType.BUY, "09:15"), at("09:30"))
        b.on_price(A, 100.0, at("09:30"))  # fills: A is held, no order open
        b.on_price(B, 50.0, at("09:30"))
        assert b.positions()[0].quantity
    prices = [(A, 101.5, "09:31"), (C, 20.0, "09:31:59"), (A, 99.0, "09:32"), (B, 51.0, "09:33:59")]
    for symbol, price, hh_mm in prices:
        fed.on_price(symbol, price, at(hh_mm))
    marked.take_marks({A: 99.0, C: 20.0, B: 51.0}, at("09:33:59"))
    assert state(fed) == state(marked)
    # What comes next sees the same marks and the same latest price time (square-off orders).
    for b in (fed, marked):
        b.submit(signal(C, SignalType.SELL, "09:15"), at("09:30"))
        b.on_time(at("09:33"))
    assert state(fed) == state(marked)
    assert [o.ts for o in fed.open_orders()] == [o.ts for o in marked.open_orders()]
    # The square-off order is placed at the latest price time, 09:33:59, not 09:33.
    assert fed.open_orders() and fed.open_orders()[-1].ts == at("09:33:59")


def test_activity_counts_fills_and_waiting_orders() -> None:
    b = broker()
    assert b.activity == (0, 0)
    b.on_price(A, 100.0, at("09:29:59"))
    b.submit(signal(A, SignalType.BUY, "09:15"), at("09:30"))
    assert b.activity == (0, 1)
    b.on_price(A, 100.0, at("09:30"))
    assert b.activity == (1, 0)


def test_cached_figures_equal_the_figures_over_random_fills_and_marks() -> None:
    rnd = random.Random(3)
    book, serial = Book(), 0
    marks: dict[str, float] = {}
    for _ in range(400):
        symbol = rnd.choice([A, B, C])
        if rnd.random() < 0.3:
            serial += 1
            side = rnd.choice([Side.BUY, Side.SELL])
            quantity = rnd.randint(1, 50)
            strategy = rnd.choice([STRATEGY, "ref_ema_cross"])
            order = Order(order_id=f"o{serial}", strategy_id=strategy, symbol=symbol, side=side,
                          quantity=quantity, order_type=OrderType.MARKET, limit_price=None,
                          ts=at("10:00"), status=OrderStatus.OPEN, signal_id=None, reason="x")  # fmt: skip
            book.add(order)
            if rnd.random() < 0.8:
                price = round(rnd.uniform(90, 110), 2)
                fill = Fill(fill_id=f"f{serial}", order_id=order.order_id, symbol=symbol, side=side,
                            quantity=quantity, price=price, ts=at("10:01"), costs=1.25)  # fmt: skip
                book.apply(order, fill)
                assert book.order(order.order_id).status is OrderStatus.FILLED
        else:
            marks[symbol] = round(rnd.uniform(90, 110), 2)
            book.mark(symbol, marks[symbol])
        held = [p for p in sorted(book.positions(), key=lambda p: (p.strategy_id, p.symbol)) if p.quantity]  # fmt: skip
        expected = 0.0
        for p in held:
            if p.avg_price is not None and p.symbol in marks:
                expected += p.quantity * (marks[p.symbol] - p.avg_price)
        assert book.unrealised() == round(expected, 2)
        projected: dict[tuple[str, str], int] = {}
        for p in book.positions():
            projected[(p.strategy_id, p.symbol)] = p.quantity
        for o in book.open_orders():
            key = (o.strategy_id, o.symbol)
            projected[key] = projected.get(key, 0) + signed_quantity(o.side, o.quantity)
        assert book.projected_all() == {k: projected[k] for k in sorted(projected) if projected[k]}
        assert list(book.projected_all()) == sorted(book.projected_all())
