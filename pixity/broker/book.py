"""The session's book: orders, fills, positions per (strategy, symbol) and marks.

Pure bookkeeping with no policy: the broker decides what to order, the book keeps count.
Positions use the average-price method: an increase moves the average, a reduction realises
(fill price - average) x quantity closed, in the position's direction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal

from pixity.domain import Fill, Order, OrderStatus, Position, Side
from pixity.errors import DataIntegrityError

Key = tuple[str, str]  # (strategy_id, symbol)

# What an order is for, kept in Order.reason while it is open (it survives a restart there).
ENTRY = "entry"
EXIT = "exit"
EXIT_ONLY = "exit only: "  # a reversal's exit whose entry was refused, followed by why


def signed_quantity(side: Side, quantity: int) -> int:
    """Return ``quantity`` signed by ``side``: + for a buy, - for a sell."""
    return quantity if side is Side.BUY else -quantity


def apply_fill(position: Position | None, strategy_id: str, fill: Fill) -> Position:
    """Return ``position`` after ``fill`` (a new position if there was none)."""
    held = position.quantity if position else 0
    avg = position.avg_price if position and position.avg_price is not None else 0.0
    realised = position.realised_pnl if position else 0.0
    change = signed_quantity(fill.side, fill.quantity)
    after = held + change
    if held == 0 or (held > 0) == (change > 0):
        new_avg = (abs(held) * avg + fill.quantity * fill.price) / abs(after)
    else:
        closed = min(abs(change), abs(held))
        direction = 1 if held > 0 else -1
        realised = round(realised + closed * (fill.price - avg) * direction, 2)
        # Still on the same side keeps its average; flipping through zero opens at the fill.
        new_avg = avg if after * held > 0 else fill.price
    return Position(
        strategy_id=strategy_id,
        symbol=fill.symbol,
        quantity=after,
        avg_price=new_avg if after else None,
        realised_pnl=realised,
        ts=fill.ts,
    )


class Book:
    """Orders, fills, positions and last prices of one paper-trading session."""

    def __init__(self) -> None:
        self._orders: dict[str, Order] = {}
        self._open: dict[str, Order] = {}
        self._positions: dict[Key, Position] = {}
        self._sorted: list[Position] | None = None  # positions(), by key
        self._slot: dict[Key, int] = {}  # where each key's position is in _sorted
        self._realised: float | None = None  # realised() until the next fill
        self._marks: dict[str, float] = {}
        self._held: dict[str, int] = {}  # symbol -> how many of its positions are open
        self._unrealised: float | None = None  # unrealised() until a fill or a held mark moves
        self._fill_ids: set[str] = set()
        self._costs = Decimal(0)  # charges are whole paise, so a Decimal sum is exact
        self._costs_float = 0.0  # float(_costs), asked for on every equity point
        self._carried_unrealised: float | None = None

    # ------------------------------------------------------------ orders

    def has_order(self, order_id: str) -> bool:
        """Tell whether an order with this id is in the book."""
        return order_id in self._orders

    def add(self, order: Order) -> None:
        """Put a new ``order`` in the book."""
        if order.order_id in self._orders:
            raise DataIntegrityError(f"order {order.order_id} is already in the book")
        self._orders[order.order_id] = order
        if order.status is OrderStatus.OPEN:
            self._open[order.order_id] = order

    def close(self, order: Order) -> None:
        """Replace a booked order by ``order`` in a final state (FILLED, CANCELLED...)."""
        if order.status is OrderStatus.OPEN:
            raise DataIntegrityError(f"order {order.order_id} is still OPEN: nothing to close")
        self._orders[order.order_id] = order
        self._open.pop(order.order_id, None)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Return the open orders, oldest first, of one symbol or all."""
        return [o for o in self._open.values() if symbol is None or o.symbol == symbol]

    def order(self, order_id: str) -> Order:
        """Return the order with this id as booked now."""
        return self._orders[order_id]

    def orders(self) -> list[Order]:
        """Return every order of the session, oldest first."""
        return list(self._orders.values())

    # ------------------------------------------------------------ fills and positions

    @property
    def fill_count(self) -> int:
        """Return the number of fills so far."""
        return len(self._fill_ids)

    def apply(self, order: Order, fill: Fill) -> Position:
        """Book ``fill`` of open ``order``: mark the order FILLED, move its position."""
        if fill.fill_id in self._fill_ids:
            raise DataIntegrityError(f"fill {fill.fill_id} is already in the book")
        key = (order.strategy_id, order.symbol)
        before = self._positions.get(key)
        position = apply_fill(before, order.strategy_id, fill)
        self._positions[key] = position
        self._realised = self._unrealised = None
        if self._sorted is not None and key in self._slot:
            self._sorted[self._slot[key]] = position  # the order of the keys is unchanged
        else:
            self._sorted = None
        was, now = bool(before and before.quantity), bool(position.quantity)
        symbol = position.symbol
        if now and not was:
            self._held[symbol] = self._held.get(symbol, 0) + 1
        elif was and not now:
            self._held[symbol] -= 1
            if not self._held[symbol]:
                del self._held[symbol]
        self._fill_ids.add(fill.fill_id)
        self._costs += Decimal(repr(fill.costs))
        self._costs_float = float(self._costs)
        self.close(dataclasses.replace(order, status=OrderStatus.FILLED))
        return position

    def positions(self) -> list[Position]:
        """Return the positions of the session (flat ones included), by strategy and symbol."""
        # Asked for on every price (marks, the loss limit); it changes only on a fill.
        return list(self._sorted_positions())

    def _sorted_positions(self) -> list[Position]:
        if self._sorted is None:
            keys = sorted(self._positions)
            self._slot = {key: i for i, key in enumerate(keys)}
            self._sorted = [self._positions[key] for key in keys]
        return self._sorted

    def projected(self, key: Key) -> int:
        """Return the quantity ``key`` will hold once its open orders fill."""
        position = self._positions.get(key)
        held = position.quantity if position else 0
        for order in self._open.values():
            if (order.strategy_id, order.symbol) == key:
                held += signed_quantity(order.side, order.quantity)
        return held

    def projected_all(self) -> dict[Key, int]:
        """Return every (strategy, symbol) that will hold a position once open orders fill."""
        # What projected() gives for every key, in one pass over the open orders (asked for on
        # every entry, to size it): a flat position with no open order projects nothing.
        held = {key: p.quantity for key, p in self._positions.items() if p.quantity}
        for order in self._open.values():
            key = (order.strategy_id, order.symbol)
            held[key] = held.get(key, 0) + signed_quantity(order.side, order.quantity)
        return {key: held[key] for key in sorted(held) if held[key]}

    # ------------------------------------------------------------ prices and P&L

    def mark(self, symbol: str, price: float) -> None:
        """Remember the last price of ``symbol``."""
        if symbol in self._held and self._marks.get(symbol) != price:
            self._unrealised = None
        self._marks[symbol] = price

    @property
    def open_count(self) -> int:
        """Return the number of orders waiting for a price."""
        return len(self._open)

    def last_price(self, symbol: str) -> float | None:
        """Return the last price seen for ``symbol``, or None."""
        return self._marks.get(symbol)

    def _mark_of(self, key: Key) -> float:
        mark = self._marks.get(key[1])
        if mark is not None:
            return mark
        position = self._positions.get(key)
        return position.avg_price if position and position.avg_price else 0.0

    def exposure(self, *, excluding: Key | None = None) -> float:
        """Return gross exposure: |quantity once open orders fill| x last price, summed.

        ``excluding`` leaves one (strategy, symbol) out: the one about to be closed.
        """
        held = self.projected_all().items()
        return sum(abs(q) * self._mark_of(key) for key, q in held if key != excluding)

    def realised(self) -> float:
        """Return the session's realised P&L, before costs."""
        if self._realised is None:
            self._realised = round(sum(p.realised_pnl for p in self._sorted_positions()), 2)
        return self._realised

    def unrealised(self) -> float:
        """Return the open positions' P&L at the last prices, before costs.

        Right after a restore, until every open position has been priced again, return the
        unrealised P&L that was stored, rather than marking unpriced positions at cost.
        """
        # Asked for on every price (the loss limit); it changes only on a fill or a new mark
        # of a held symbol.
        if self._unrealised is None:
            self._unrealised = self._compute_unrealised()
        return self._unrealised

    def _compute_unrealised(self) -> float:
        open_positions = [p for p in self._sorted_positions() if p.quantity]
        unpriced = any(p.symbol not in self._marks for p in open_positions)
        if unpriced and self._carried_unrealised is not None:
            return self._carried_unrealised
        total = 0.0
        for p in open_positions:
            if p.avg_price is not None and p.symbol in self._marks:
                total += p.quantity * (self._marks[p.symbol] - p.avg_price)
        return round(total, 2)

    def costs(self) -> float:
        """Return the session's charges so far, in rupees."""
        return self._costs_float

    def total(self) -> float:
        """Return realised + unrealised P&L net of costs."""
        return self.realised() + self.unrealised() - self.costs()

    # ------------------------------------------------------------ restart

    def rebuild(self, orders: Sequence[Order], fills: Sequence[Fill]) -> list[Order]:
        """Book stored ``orders`` then replay stored ``fills`` in order; return repaired orders.

        An order still stored OPEN although its fill is stored (a crash between the two
        writes) is booked FILLED and returned, so the caller can store it again.
        """
        for order in orders:
            self.add(order)
        repaired = []
        for fill in fills:
            filled = self._orders.get(fill.order_id)
            if filled is None:
                raise DataIntegrityError(f"stored fill {fill.fill_id} is of unknown order")
            if filled.status not in (OrderStatus.OPEN, OrderStatus.FILLED):
                raise DataIntegrityError(
                    f"stored fill {fill.fill_id} fills a {filled.status} order"
                )
            if filled.status is OrderStatus.OPEN:
                repaired.append(filled.order_id)
            self.apply(filled, fill)
        return [self._orders[order_id] for order_id in repaired]

    def carry_unrealised(self, value: float) -> None:
        """Keep a stored unrealised P&L until every open position is priced again."""
        self._carried_unrealised = value
        self._unrealised = None
