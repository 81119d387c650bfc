"""An in-memory paper ledger: what ``PaperStore`` keeps, for a backtest that writes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from pixity.domain import DayPnl, Fill, Order, Position, RiskEvent, Signal, SignalStatus


@dataclass(slots=True)
class MemoryLedger:
    """Orders, fills, positions, day P&L and risk events, idempotent like the store."""

    orders: dict[str, Order] = field(default_factory=dict)
    fills: dict[str, Fill] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    day_pnl: dict[str, DayPnl] = field(default_factory=dict)
    risk_events: list[RiskEvent] = field(default_factory=list)
    _risk_event_set: set[RiskEvent] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._risk_event_set = set(self.risk_events)

    def save_order(self, order: Order) -> bool:
        """Keep a new order; False if its id is known."""
        if order.order_id in self.orders:
            return False
        self.orders[order.order_id] = order
        return True

    def update_order(self, order: Order) -> None:
        """Replace a kept order."""
        self.orders[order.order_id] = order

    def save_fill(self, fill: Fill) -> bool:
        """Keep a new fill; False if its id is known."""
        if fill.fill_id in self.fills:
            return False
        self.fills[fill.fill_id] = fill
        return True

    def upsert_position(self, position: Position) -> None:
        """Keep ``position`` as the current one of its (strategy, symbol)."""
        self.positions[(position.strategy_id, position.symbol)] = position

    def upsert_day_pnl(self, pnl: DayPnl) -> None:
        """Keep ``pnl`` as its day's."""
        self.day_pnl[pnl.session_date] = pnl

    def record_risk_event(self, event: RiskEvent) -> bool:
        """Keep a risk event once."""
        if event in self._risk_event_set:  # a day refuses thousands: not a scan of the list
            return False
        self._risk_event_set.add(event)
        self.risk_events.append(event)
        return True


@dataclass(slots=True)
class SignalBook:
    """The signals a backtest emitted and where each ended, as signals.db would hold them."""

    signals: dict[str, Signal] = field(default_factory=dict)
    status: dict[str, tuple[SignalStatus, str | None]] = field(default_factory=dict)

    def save(self, signal: Signal) -> None:
        """Keep ``signal`` as PENDING (once)."""
        if signal.signal_id not in self.signals:
            self.signals[signal.signal_id] = signal
            self.status[signal.signal_id] = (SignalStatus.PENDING, None)

    def settle(self, signal_id: str, status: SignalStatus, reason: str | None) -> None:
        """Record where signal ``signal_id`` ended."""
        self.status[signal_id] = (status, reason)
