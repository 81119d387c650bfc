"""The broker's market orders and the market time it stamps on them."""

from __future__ import annotations

from datetime import datetime

from pixity.broker.book import Key
from pixity.domain import Order, OrderStatus, OrderType, Side
from pixity.markettime import require_aware, to_ist


def market_time(when: datetime, what: str) -> datetime:
    """Return aware ``when`` in IST to the second (stored *_ts columns hold whole seconds)."""
    return to_ist(require_aware(when, what)).replace(microsecond=0)


def closing_side(quantity: int) -> Side:
    """Return the side that closes a position of signed ``quantity``."""
    return Side.SELL if quantity > 0 else Side.BUY


def market_order(
    order_id: str,
    key: Key,
    side: Side,
    quantity: int,
    ts: datetime,
    signal_id: str | None,
    why: str,
) -> Order:
    """Build an OPEN market order for ``key`` (strategy, symbol); ``why`` is its reason."""
    strategy_id, symbol = key
    return Order(
        order_id=order_id,
        strategy_id=strategy_id,
        symbol=symbol,
        side=side,
        quantity=quantity,
        order_type=OrderType.MARKET,
        limit_price=None,
        ts=ts,
        status=OrderStatus.OPEN,
        signal_id=signal_id,
        reason=why,
    )
