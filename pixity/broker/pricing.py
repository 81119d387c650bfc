"""Fill prices: the price seen, moved by slippage against the order, on NSE's 0.05 tick."""

from __future__ import annotations

import functools
import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from pixity.domain import Side
from pixity.errors import InvalidValueError

TICK = Decimal("0.05")  # NSE equity tick size
_BPS = Decimal(10_000)


def check_price(price: float, what: str) -> float:
    """Return ``price`` as a float if it is a finite number > 0, else raise."""
    if isinstance(price, bool) or not isinstance(price, int | float):
        raise InvalidValueError(f"{what} must be a number, got {type(price).__name__}")
    if not math.isfinite(price) or price <= 0:
        raise InvalidValueError(f"{what} {price!r} must be finite and > 0")
    return float(price)


def fill_price(side: Side, price: float, slippage_bps: float) -> float:
    """Return the fill price of a market order at ``price``: worse by the slippage, on a tick.

    A buy rounds up to the next tick and a sell down, so slippage never favours the trader;
    a sell never goes below one tick.
    """
    check_price(price, "price")
    up, down = _factors(float(slippage_bps))
    if side is Side.BUY:
        moved, rounding = Decimal(repr(float(price))) * up, ROUND_CEILING
    else:
        moved, rounding = Decimal(repr(float(price))) * down, ROUND_FLOOR
    ticks = max((moved / TICK).to_integral_value(rounding=rounding), Decimal(1))
    return float(ticks * TICK)


@functools.lru_cache(maxsize=64)
def _factors(slippage_bps: float) -> tuple[Decimal, Decimal]:
    """Return what a buy's and a sell's price are multiplied by (once per slippage)."""
    bps = Decimal(repr(slippage_bps))
    return 1 + bps / _BPS, 1 - bps / _BPS
