"""Shared pieces of the broker tests: a fake ledger, scenario steps and a runner."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from pixity.broker import BrokerConfig, PaperBroker, PaperLedger, SignalOutcome
from pixity.domain import DayPnl, Fill, Order, Position, RiskEvent, Signal, SignalType
from pixity.markettime import IST

DAY = date(2024, 1, 15)  # a Monday, an NSE trading day
STRATEGY = "pixityAI_meta"
A = "NSE_EQ|INE155A01022"
B = "NSE_EQ|INE118H01025"
C = "NSE_EQ|INE002A01018"

CONFIG = BrokerConfig(
    max_capital=100_000, max_daily_loss=5_000, per_trade_capital=25_000, slippage_bps=2.0
)


def at(hh_mm: str, day: date = DAY) -> datetime:
    """Return IST market time HH:MM (or HH:MM:SS) on ``day``."""
    return datetime.combine(day, time.fromisoformat(hh_mm), tzinfo=IST)


class FakeLedger:
    """An in-memory PaperLedger that records every call and refuses duplicate ids."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.orders: dict[str, Order] = {}
        self.fills: dict[str, Fill] = {}
        self.positions: dict[tuple[str, str], Position] = {}
        self.pnl: dict[str, DayPnl] = {}
        self.events: list[RiskEvent] = []

    def save_order(self, order: Order) -> bool:
        self.calls.append(("save_order", order.order_id))
        if order.order_id in self.orders:
            return False
        self.orders[order.order_id] = order
        return True

    def update_order(self, order: Order) -> None:
        self.calls.append(("update_order", order.order_id))
        assert order.order_id in self.orders, f"update of unknown order {order.order_id}"
        self.orders[order.order_id] = order

    def save_fill(self, fill: Fill) -> bool:
        self.calls.append(("save_fill", fill.fill_id))
        if fill.fill_id in self.fills:
            return False
        self.fills[fill.fill_id] = fill
        return True

    def upsert_position(self, position: Position) -> None:
        self.calls.append(("upsert_position", position.symbol))
        self.positions[(position.strategy_id, position.symbol)] = position

    def upsert_day_pnl(self, pnl: DayPnl) -> None:
        self.calls.append(("upsert_day_pnl", pnl.session_date))
        self.pnl[pnl.session_date] = pnl

    def record_risk_event(self, event: RiskEvent) -> bool:
        self.calls.append(("record_risk_event", event.kind))
        if event in self.events:  # the store's key: (ts, kind, symbol, detail)
            return False
        self.events.append(event)
        return True

    def restore_into(self, broker: PaperBroker) -> None:
        """Restore ``broker`` from what this ledger holds, as from a PaperReader."""
        broker.restore(
            orders=list(self.orders.values()),
            fills=list(self.fills.values()),
            positions=list(self.positions.values()),
            day_pnl=self.pnl.get(DAY.isoformat()),
        )


# ---------------------------------------------------------------- scenario steps


@dataclass(frozen=True)
class Price:
    """on_price(symbol, price) at HH:MM[:SS].

    As the live engine does: a 1m bar's close is seen at HH:MM:59 (just before the signal
    its bar closes), the next bar's open at the next HH:MM.
    """

    hh_mm: str
    symbol: str
    price: float


@dataclass(frozen=True)
class Sig:
    """submit(signal) at HH:MM, the close of the 15m bar that opened 15 minutes earlier."""

    hh_mm: str
    symbol: str
    kind: SignalType
    tag: str


@dataclass(frozen=True)
class Clock:
    """on_time at HH:MM."""

    hh_mm: str


Step = Price | Sig | Clock


def signal_of(step: Sig) -> Signal:
    """Return the signal a Sig step submits."""
    return Signal.create(
        strategy_id=STRATEGY,
        symbol=step.symbol,
        timestamp=at(step.hh_mm) - timedelta(minutes=15),
        signal_type=step.kind,
        confidence=0.7,
    )


@dataclass
class Run:
    """A broker driven through steps, with what it handed out."""

    broker: PaperBroker
    ledger: PaperLedger
    outcomes: list[SignalOutcome] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    def play(self, steps: Sequence[Step]) -> Run:
        """Drive the broker through ``steps``."""
        for step in steps:
            if isinstance(step, Price):
                self.broker.on_price(step.symbol, step.price, at(step.hh_mm))
            elif isinstance(step, Sig):
                signal = signal_of(step)
                self.tags[signal.signal_id] = step.tag
                self.broker.submit(signal, at(step.hh_mm))
            else:
                self.broker.on_time(at(step.hh_mm))
        return self

    def tagged(self) -> list[tuple[str, str, str | None]]:
        """Return the outcomes as (tag, status, reason), in the order given."""
        return [(self.tags[o.signal_id], o.status.value, o.reason) for o in self.outcomes]


def new_run(ledger: PaperLedger, config: BrokerConfig = CONFIG) -> Run:
    """Return a run of a new broker for DAY over ``ledger``."""
    outcomes: list[SignalOutcome] = []
    broker = PaperBroker(config, ledger, session_date=DAY, on_outcome=outcomes.append)
    return Run(broker=broker, ledger=ledger, outcomes=outcomes)


def fill_rows(fills: Sequence[Fill]) -> list[tuple[str, str, str, int, float, float]]:
    """Return fills as (HH:MM, symbol, side, quantity, price, costs)."""
    return [
        (
            f.ts.astimezone(IST).strftime("%H:%M"),
            f.symbol,
            f.side.value,
            f.quantity,
            f.price,
            f.costs,
        )
        for f in fills
    ]


def without_ts(position: Position) -> Position:
    """Return ``position`` with a fixed time, to compare the money in it."""
    return dataclasses.replace(position, ts=at("09:15"))
