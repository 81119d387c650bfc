"""The paper broker: signals in, market orders filled at the next price, risk rules applied.

Time is always handed in (market time, aware); nothing here reads a clock. Every order,
fill, position, daily P&L and risk event goes to a ``PaperLedger`` (``PaperStore`` in
production), and each signal's outcome goes to ``on_outcome`` exactly once.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Protocol

from pixity.broker import risk
from pixity.broker.book import ENTRY, EXIT, EXIT_ONLY, Book, Key
from pixity.broker.config import BrokerConfig
from pixity.broker.costs import charges
from pixity.broker.ids import fill_id, flatten_order_id, signal_order_id
from pixity.broker.orders import closing_side, market_order, market_time
from pixity.broker.outcomes import SignalOutcome, SignalTracker
from pixity.broker.pricing import check_price, fill_price
from pixity.broker.restore import rebuild_session
from pixity.domain import (
    DayPnl,
    Fill,
    Order,
    OrderStatus,
    Position,
    RiskEvent,
    Side,
    Signal,
    SignalType,
    check_symbol,
)
from pixity.errors import DataIntegrityError, InvalidValueError
from pixity.markettime import IST

__all__ = ["PaperBroker", "PaperLedger", "SignalOutcome"]

logger = logging.getLogger(__name__)

KILL_ORDER_REASON = "daily loss kill"


class PaperLedger(Protocol):
    """Where the broker keeps its records; ``PaperStore`` satisfies it."""

    def save_order(self, order: Order) -> bool: ...
    def update_order(self, order: Order) -> None: ...
    def save_fill(self, fill: Fill) -> bool: ...
    def upsert_position(self, position: Position) -> None: ...
    def upsert_day_pnl(self, pnl: DayPnl) -> None: ...
    def record_risk_event(self, event: RiskEvent) -> bool: ...


class PaperBroker:
    """Paper-trade one session day: size, place and fill orders; enforce the risk rules."""

    def __init__(
        self,
        config: BrokerConfig,
        ledger: PaperLedger,
        *,
        session_date: date,
        on_outcome: Callable[[SignalOutcome], None],
    ) -> None:
        self._config = config
        self._ledger = ledger
        self._date = session_date
        self._on_outcome = on_outcome
        self._book = Book()
        self._signals = SignalTracker()
        self._killed = False
        self._kill_reason: str | None = None
        self._squaring_off = False
        self._squared_off: set[Key] = set()
        self._signals_until: datetime | None = None
        self._prices_until: datetime | None = None
        self._kill_from: datetime | None = None  # a restored kill acts on prices from then
        self._started = False
        self._price_at: datetime | None = None  # the latest price time seen
        self._persisted: DayPnl | None = None
        self._cutoff_at = datetime.combine(session_date, config.entry_cutoff, tzinfo=IST)
        self._square_off_at = datetime.combine(session_date, config.square_off, tzinfo=IST)

    # ------------------------------------------------------------ state

    @property
    def killed(self) -> bool:
        """Tell whether the daily loss limit was hit (no entries for the rest of the day)."""
        return self._killed

    @property
    def day_pnl(self) -> DayPnl:
        """Return the session's P&L now, with its kill state."""
        return DayPnl(
            session_date=self._date.isoformat(),
            realised=self._book.realised(),
            unrealised=self._book.unrealised(),
            costs=self._book.costs(),
            killed=self._killed,
            kill_reason=self._kill_reason,
        )

    def positions(self) -> list[Position]:
        """Return the session's positions (flat ones included), by strategy and symbol."""
        return self._book.positions()

    def open_orders(self) -> list[Order]:
        """Return the orders waiting for a price, oldest first."""
        return self._book.open_orders()

    @property
    def activity(self) -> tuple[int, int]:
        """Return (fills so far, orders waiting for a price): what changes when the book does."""
        return self._book.fill_count, self._book.open_count

    def equity_point(self) -> tuple[float, float, float]:
        """Return (realised, unrealised, costs) now, for an equity curve."""
        return self._book.realised(), self._book.unrealised(), self._book.costs()

    # ------------------------------------------------------------ restart

    def restore(
        self,
        *,
        orders: Sequence[Order],
        fills: Sequence[Fill],
        positions: Sequence[Position],
        day_pnl: DayPnl | None,
        kill_ts: datetime | None = None,
    ) -> None:
        """Rebuild the session from stored records (``PaperReader``) after a restart.

        ``kill_ts`` is when the stored kill happened (its ``daily_loss_kill`` risk event): a
        kill a crash cut short is finished on the first price at or after it, never on a
        replayed older one.

        Positions, realised P&L and costs are replayed from the fills; stored rows that
        disagree (a crash between writes) are written again. The kill state comes back from
        ``day_pnl``. Signals and prices replayed from before the restart are then recognised:
        a signal already seen (or older than the newest signal order) is ignored, and a price
        older than the newest stored record only marks to market.
        """
        if self._started:
            raise DataIntegrityError("restore() must come before the first signal or price")
        state = rebuild_session(
            self._date, orders=orders, fills=fills, positions=positions, day_pnl=day_pnl
        )
        for order in state.repaired_orders:
            self._ledger.update_order(order)
        for position in state.repaired_positions:
            self._ledger.upsert_position(position)
        self._book, self._signals = state.book, state.signals
        self._signals_until, self._prices_until = state.signals_until, state.prices_until
        self._squared_off = set(state.squared_off)
        self._squaring_off = bool(state.squared_off)
        if state.stored_pnl is not None:
            self._killed = state.stored_pnl.killed
            self._kill_reason = state.stored_pnl.kill_reason
            self._persisted = state.stored_pnl
        if self._killed and kill_ts is not None:
            self._kill_from = market_time(kill_ts, "kill time")
        if self._book.fill_count or state.stored_pnl is not None:
            self._persist_pnl()  # writes only if the fills say otherwise
        self._started = True

    def settled_signals(self) -> list[SignalOutcome]:
        """Return the outcome of each signal whose orders are all final (filled or cancelled).

        After a restore, ``on_outcome`` is not told these again: they were given before the
        restart. But whoever records outcomes keeps them apart from this ledger, and a crash
        between the order's last write and the outcome's leaves the outcome unrecorded; this
        is what to check the records against.
        """
        return self._signals.settled_by_orders()

    # ------------------------------------------------------------ signals

    def submit(self, signal: Signal, now: datetime) -> None:
        """Act on ``signal`` at market time ``now`` (the close of the bar it was computed on).

        A signal seen before, or replayed from before the restored records, is ignored.
        """
        now = market_time(now, "signal time")
        if now.date() != self._date:
            raise InvalidValueError(
                f"signal {signal.signal_id} at {now.isoformat()} is not on session day {self._date}"
            )
        self._started = True
        if self._signals.seen(signal.signal_id):
            return
        if self._signals_until is not None and now < self._signals_until:
            return  # handled before the restart: its outcome was given then
        held = self._book.projected((signal.strategy_id, signal.symbol))
        if signal.signal_type is SignalType.EXIT:
            self._submit_exit(signal, now, held)
        else:
            self._submit_entry(signal, now, held)

    def _submit_exit(self, signal: Signal, now: datetime, held: int) -> None:
        if held == 0:
            self._reject(signal, "no position to exit")
            return
        exit_order = self._signal_order(signal, now, EXIT, closing_side(held), abs(held), EXIT)
        self._signals.track(signal.signal_id, [exit_order])

    def _submit_entry(self, signal: Signal, now: datetime, held: int) -> None:
        side = Side.BUY if signal.signal_type is SignalType.BUY else Side.SELL
        if held and closing_side(held) is not side:
            self._reject(signal, "already long" if held > 0 else "already short")
            return
        quantity, refusal = self._entry_quantity(signal, now)
        if refusal is not None and refusal.kind is not None:
            detail = (
                f"{signal.strategy_id} {signal.signal_type} {signal.signal_id}: {refusal.reason}"
            )
            self._record(RiskEvent(ts=now, kind=refusal.kind, symbol=signal.symbol, detail=detail))
        orders = []
        if held:  # a reversal: the exit always goes, first
            why = EXIT if refusal is None else f"{EXIT_ONLY}{refusal.reason}"
            orders.append(self._signal_order(signal, now, EXIT, side, abs(held), why))
        if quantity:
            orders.append(self._signal_order(signal, now, ENTRY, side, quantity, ENTRY))
        if orders:
            self._signals.track(signal.signal_id, orders)
        else:
            self._reject(signal, refusal.reason if refusal else "no order to place")

    def _entry_quantity(self, signal: Signal, now: datetime) -> tuple[int, risk.Refusal | None]:
        refusal = risk.entry_refusal(
            self._config,
            now=now,
            cutoff_at=self._cutoff_at,
            killed=self._killed,
            squared_off=self._squaring_off,
        )
        if refusal is not None:
            return 0, refusal
        # Sized on the capital left once this symbol's position (if any) is closed.
        key = (signal.strategy_id, signal.symbol)
        return risk.size_entry(
            self._config,
            symbol=signal.symbol,
            price=self._book.last_price(signal.symbol),
            exposure=self._book.exposure(excluding=key),
        )

    def _signal_order(
        self, signal: Signal, now: datetime, leg: str, side: Side, quantity: int, why: str
    ) -> Order:
        """Place the ``leg`` ("exit" or "entry") order of a signal; ``why`` is its reason."""
        key = (signal.strategy_id, signal.symbol)
        order_id = signal_order_id(signal.signal_id, leg)
        order = market_order(order_id, key, side, quantity, now, signal.signal_id, why)
        self._add_order(order)
        return order

    def _add_order(self, order: Order) -> None:
        self._book.add(order)
        if not self._ledger.save_order(order):
            logger.warning("order %s was already stored; keeping the stored row", order.order_id)

    def _reject(self, signal: Signal, reason: str) -> None:
        logger.info("signal %s (%s) rejected: %s", signal.signal_id, signal.symbol, reason)
        self._on_outcome(self._signals.reject(signal.signal_id, reason))

    def _record(self, event: RiskEvent) -> None:
        self._ledger.record_risk_event(event)

    # ------------------------------------------------------------ prices

    def on_price(self, symbol: str, price: float, ts: datetime) -> None:
        """Take the price of ``symbol`` at market time ``ts``: fill, mark, apply the loss limit.

        Open orders of ``symbol`` fill at this price with slippage: a signal's order once
        ``ts`` is at or after its time (the next 1m bar's open is at the signal's time), a
        flattening order once ``ts`` is after its time (it was placed on the price at its time).
        """
        check_symbol(symbol)
        check_price(price, f"price of {symbol}")
        ts = market_time(ts, f"price time of {symbol}")
        self._started = True
        self._book.mark(symbol, float(price))
        self._price_at = ts if self._price_at is None else max(self._price_at, ts)
        for order in self._book.open_orders(symbol):
            if order.ts < ts or (order.ts == ts and order.signal_id is not None):
                self._fill(order, float(price), ts)
        if self._killed:
            if self._kill_from is None or ts >= self._kill_from:
                self._enforce_kill(ts)  # a no-op unless a restart cut the kill short
        elif self._prices_until is None or ts >= self._prices_until:
            # An older price is a replay: its loss was judged before the restart.
            if self._book.total() <= -self._config.max_daily_loss:
                self._kill(ts)

    def take_marks(self, marks: Mapping[str, float], latest: datetime | None) -> None:
        """Take prices that ``on_price`` would only have marked, in one go.

        For a caller that has shown those prices could fill nothing and kill nothing (the
        backtest's fast path: symbols with no open order, while the loss limit is out of
        reach): each symbol's last price becomes ``marks[symbol]``, and ``latest`` the latest
        price time seen, as ``on_price`` of each of them would have left them.
        """
        self._started = True
        book = self._book
        for symbol, price in marks.items():
            book.mark(symbol, price)
        if latest is not None:
            latest = market_time(latest, "price time")
            if self._price_at is None or latest > self._price_at:
                self._price_at = latest

    def _fill(self, order: Order, price: float, ts: datetime) -> None:
        executed = fill_price(order.side, price, self._config.slippage_bps)
        fill = Fill(
            fill_id=fill_id(order.order_id),
            order_id=order.order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            price=executed,
            ts=ts,
            costs=charges(self._config.rates, order.side, order.quantity, executed),
        )
        position = self._book.apply(order, fill)
        filled = self._book.order(order.order_id)  # now FILLED
        if not self._ledger.save_fill(fill):
            logger.warning("fill %s was already stored; keeping the stored row", fill.fill_id)
        self._ledger.update_order(filled)
        self._ledger.upsert_position(position)
        self._persist_pnl(force=True)
        self._settle(filled)

    def _settle(self, order: Order) -> None:
        outcome = self._signals.settle(order)
        if outcome is not None:
            self._on_outcome(outcome)

    # ------------------------------------------------------------ risk actions

    def _kill(self, ts: datetime) -> None:
        total = self._book.total()
        limit = self._config.max_daily_loss
        reason = f"{risk.DAILY_LOSS_REASON}: day P&L {total:.2f} <= -{limit:.2f}"
        logger.warning("session %s killed: %s", self._date, reason)
        self._killed, self._kill_reason = True, reason
        # The kill state is stored first: whatever a crash cuts short, a restart still blocks
        # entries, and _enforce_kill finishes the job on the next price.
        self._persist_pnl(force=True)
        self._record(RiskEvent(ts=ts, kind=risk.DAILY_LOSS_KILL, symbol=None, detail=reason))
        self._enforce_kill(ts)

    def _enforce_kill(self, ts: datetime) -> None:
        """Cancel open entries and order every remaining position closed."""
        self._cancel_entries(risk.DAILY_LOSS_REASON)
        self._flatten("kill", ts, KILL_ORDER_REASON)

    def cancel_open(self, why: str) -> int:
        """Cancel every order still waiting for a price (the session is stopping); return how many.

        Their signals end REJECTED with ``why``, instead of staying PENDING for ever.
        """
        waiting = self._book.open_orders()
        for order in waiting:
            cancelled = dataclasses.replace(order, status=OrderStatus.CANCELLED, reason=why)
            self._book.close(cancelled)
            self._ledger.update_order(cancelled)
            self._settle(cancelled)
        return len(waiting)

    def _cancel_entries(self, why: str) -> None:
        for order in self._book.open_orders():
            if order.reason == ENTRY:
                cancelled = dataclasses.replace(
                    order, status=OrderStatus.CANCELLED, reason=f"entry cancelled: {why}"
                )
                self._book.close(cancelled)
                self._ledger.update_order(cancelled)
                self._settle(cancelled)

    def _flatten(self, kind: str, now: datetime, reason: str) -> list[Key]:
        """Order every position closed (filling at the next price); return the keys ordered.

        The order's time is the latest market time the broker knows (``now`` or the latest
        price), so that only a price after it fills it, the same on a replay.
        """
        placed = now if self._price_at is None else max(now, self._price_at)
        flattened = []
        for (strategy_id, symbol), held in self._book.projected_all().items():
            order_id = flatten_order_id(
                kind, strategy_id, symbol, self._date, self._book.fill_count
            )
            if self._book.has_order(order_id):
                raise DataIntegrityError(f"flatten order {order_id} would be placed twice")
            key = (strategy_id, symbol)
            self._add_order(
                market_order(order_id, key, closing_side(held), abs(held), placed, None, reason)
            )
            flattened.append(key)
        return flattened

    # ------------------------------------------------------------ time

    def on_time(self, now: datetime) -> None:
        """Let market time ``now`` pass: square off at or after the square-off time."""
        now = market_time(now, "market time")
        self._started = True
        if now >= self._square_off_at:
            self._square_off(now)
        self._persist_pnl()

    def _square_off(self, now: datetime) -> None:
        label = f"square-off {self._config.square_off:%H:%M}"
        if not self._squaring_off:
            self._squaring_off = True
            self._cancel_entries(label)
        for key in self._flatten("sqoff", now, label):
            if key not in self._squared_off:
                self._squared_off.add(key)
                detail = f"{key[0]}: {label}, flattening {key[1]}"
                self._record(RiskEvent(ts=now, kind=risk.SQUARE_OFF, symbol=key[1], detail=detail))
                logger.info("%s %s/%s", label, *key)

    def _persist_pnl(self, *, force: bool = False) -> None:
        pnl = self.day_pnl
        if force or pnl != self._persisted:
            self._ledger.upsert_day_pnl(pnl)
            self._persisted = pnl
