"""Risk rules on new entries: the kill switch, square-off, the entry cutoff, and sizing.

Exits are never refused: closing risk is always allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from pixity.broker.config import BrokerConfig

# Risk event kinds (RiskEvent.kind), the names users' own SQL filters on.
ENTRY_WHILE_KILLED = "entry_while_killed"
ENTRY_AFTER_SQUARE_OFF = "entry_after_square_off"
ENTRY_AFTER_CUTOFF = "entry_after_cutoff"
ENTRY_NO_CAPITAL = "entry_no_capital"
DAILY_LOSS_KILL = "daily_loss_kill"
SQUARE_OFF = "square_off"

DAILY_LOSS_REASON = "daily loss limit hit"


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """Why an entry is refused; ``kind`` is the risk event to record (None: not a risk rule)."""

    kind: str | None
    reason: str


def entry_refusal(
    config: BrokerConfig, *, now: datetime, cutoff_at: datetime, killed: bool, squared_off: bool
) -> Refusal | None:
    """Return why no entry may open at ``now``, or None if entries are allowed."""
    if killed:
        return Refusal(kind=ENTRY_WHILE_KILLED, reason=DAILY_LOSS_REASON)
    if squared_off:
        return Refusal(
            kind=ENTRY_AFTER_SQUARE_OFF, reason=f"after square-off {config.square_off:%H:%M}"
        )
    if now >= cutoff_at:
        return Refusal(
            kind=ENTRY_AFTER_CUTOFF, reason=f"after entry cutoff {config.entry_cutoff:%H:%M}"
        )
    return None


def size_entry(
    config: BrokerConfig, *, symbol: str, price: float | None, exposure: float
) -> tuple[int, Refusal | None]:
    """Return the quantity of a new entry, or 0 and why there can be none.

    The entry buys floor(min(per-trade capital, max capital - gross exposure) / last price).
    """
    if price is None:
        return 0, Refusal(kind=None, reason=f"no price seen for {symbol} yet")
    room = config.max_capital - exposure
    budget = min(config.trade_capital, room)
    quantity = 0
    if budget > 0:
        shares = Decimal(repr(budget)) / Decimal(repr(price))
        quantity = int(shares.to_integral_value(rounding=ROUND_FLOOR))
    if quantity > 0:
        return quantity, None
    if room < price:
        reason = (
            f"no capital left: gross exposure {exposure:.2f} of max {config.max_capital:.2f} "
            f"leaves {max(room, 0.0):.2f}, below price {price:.2f}"
        )
    else:
        reason = (
            f"no capital left: per-trade capital {config.trade_capital:.2f} "
            f"is below price {price:.2f}"
        )
    return 0, Refusal(kind=ENTRY_NO_CAPITAL, reason=reason)
