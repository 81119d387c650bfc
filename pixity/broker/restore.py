"""Rebuild a session's book from its stored records after a restart the same day.

Fills are the source of truth: positions, realised P&L and costs are replayed from them, and
stored rows that disagree (a crash between two writes) come back as repairs to write again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pixity.broker.book import Book, Key
from pixity.broker.outcomes import SignalTracker
from pixity.domain import DayPnl, Fill, Order, OrderStatus, Position
from pixity.errors import DataIntegrityError, InvalidValueError
from pixity.markettime import to_ist

logger = logging.getLogger(__name__)

SQUARE_OFF_PREFIX = "sqoff-"  # ids.flatten_order_id("sqoff", ...)


@dataclass(frozen=True, slots=True, kw_only=True)
class Restored:
    """A session rebuilt from storage, with the rows to write again."""

    book: Book
    signals: SignalTracker
    repaired_orders: tuple[Order, ...]
    repaired_positions: tuple[Position, ...]
    stored_pnl: DayPnl | None
    signals_until: datetime | None  # signals before it were handled before the restart
    prices_until: datetime | None  # prices before it were seen before the restart
    squared_off: frozenset[Key]


def _on(day: date, when: datetime) -> bool:
    return to_ist(when).date() == day


def rebuild_session(
    session_date: date,
    *,
    orders: Sequence[Order],
    fills: Sequence[Fill],
    positions: Sequence[Position],
    day_pnl: DayPnl | None,
) -> Restored:
    """Rebuild session ``session_date`` from stored records; other days' records are ignored."""
    if day_pnl is not None and day_pnl.session_date != session_date.isoformat():
        raise InvalidValueError(f"stored P&L of {day_pnl.session_date} given for {session_date}")
    today = [o for o in orders if _on(session_date, o.ts)]
    today_fills = [f for f in fills if _on(session_date, f.ts)]
    book = Book()
    repaired = book.rebuild(today, today_fills)
    for order in repaired:
        logger.warning("order %s was stored OPEN although its fill is stored", order.order_id)
    if day_pnl is not None:
        book.carry_unrealised(day_pnl.unrealised)
    signals = SignalTracker()
    signals.restore(book.orders())
    times = [o.ts for o in today] + [f.ts for f in today_fills]
    return Restored(
        book=book,
        signals=signals,
        repaired_orders=tuple(repaired),
        repaired_positions=_repairs(book, session_date, positions),
        stored_pnl=day_pnl,
        signals_until=max((o.ts for o in today if o.signal_id is not None), default=None),
        prices_until=max(times, default=None),
        squared_off=frozenset(
            (o.strategy_id, o.symbol)
            for o in today
            if o.order_id.startswith(SQUARE_OFF_PREFIX) and o.status is not OrderStatus.CANCELLED
        ),
    )


def _repairs(book: Book, session_date: date, stored: Sequence[Position]) -> tuple[Position, ...]:
    by_key = {(p.strategy_id, p.symbol): p for p in stored if _on(session_date, p.ts)}
    for old in stored:
        if old.quantity and not _on(session_date, old.ts):
            # Intraday positions do not carry over; today's first fill overwrites the row.
            logger.warning(
                "position %s/%s of an earlier day is still open", old.strategy_id, old.symbol
            )
    repairs = []
    for position in book.positions():
        key = (position.strategy_id, position.symbol)
        if by_key.pop(key, None) != position:
            logger.warning("position %s/%s differs from its fills: rebuilt", *key)
            repairs.append(position)
    for (strategy_id, symbol), left in by_key.items():
        if left.quantity:
            raise DataIntegrityError(f"stored position {strategy_id}/{symbol} has no fills today")
    return tuple(repairs)
