"""A kill that a crash cut short is finished at the first price after it, not a replayed older one."""

from __future__ import annotations

from datetime import date, datetime

from pixity.backtest.ledger import MemoryLedger
from pixity.broker import BrokerConfig
from pixity.broker.paper import PaperBroker
from pixity.domain import Signal, SignalType
from pixity.markettime import IST

DAY = date(2025, 6, 3)
KEY = "NSE_EQ|INE155A01022"


def at(h: int, m: int) -> datetime:
    return datetime(2025, 6, 3, h, m, tzinfo=IST)


def test_a_restored_kill_flattens_on_a_price_after_the_kill() -> None:
    config = BrokerConfig(max_capital=100_000, max_daily_loss=1_000)
    ledger = MemoryLedger()
    broker = PaperBroker(config, ledger, session_date=DAY, on_outcome=lambda _o: None)
    broker.on_price(KEY, 100.0, at(9, 29))
    signal = Signal.create(strategy_id="s", symbol=KEY, timestamp=at(9, 15),
                           signal_type=SignalType.BUY, confidence=1.0)  # fmt: skip
    broker.submit(signal, at(9, 30))
    broker.on_price(KEY, 100.0, at(9, 30))
    broker.on_price(KEY, 90.0, at(11, 0))  # down 2,500: the kill
    assert broker.killed
    kill_ts = next(e.ts for e in ledger.risk_events if e.kind == "daily_loss_kill")
    # A crash after the kill state was stored but before its flatten order was.
    orders = [o for o in ledger.orders.values() if not o.order_id.startswith("kill-")]
    again = MemoryLedger()
    restarted = PaperBroker(config, again, session_date=DAY, on_outcome=lambda _o: None)
    restarted.restore(orders=orders, fills=list(ledger.fills.values()),
                      positions=list(ledger.positions.values()),
                      day_pnl=ledger.day_pnl[DAY.isoformat()], kill_ts=kill_ts)  # fmt: skip
    for price, ts in [(100.0, at(9, 29)), (100.0, at(9, 30)), (101.0, at(9, 31)),
                      (90.0, at(11, 0)), (91.0, at(11, 1))]:  # fmt: skip
        restarted.on_price(KEY, price, ts)
    fills = sorted(again.fills.values(), key=lambda f: f.ts)
    assert fills, "the kill is finished"
    assert all(f.ts >= kill_ts for f in fills) and fills[0].price < 92
