"""Fill prices: slippage against the order, then NSE's 0.05 tick (buys up, sells down)."""

from __future__ import annotations

import pytest

from pixity.broker import fill_price
from pixity.domain import Side
from pixity.errors import InvalidValueError

CASES = [
    # side, price, bps, fill       how
    (Side.BUY, 100.00, 2, 100.05),  # 100.02 -> up a tick
    (Side.SELL, 100.00, 2, 99.95),  # 99.98 -> down a tick
    (Side.BUY, 250.40, 2, 250.50),  # 250.45008 -> 250.50
    (Side.SELL, 255.10, 2, 255.00),  # 255.04898 -> 255.00
    (Side.BUY, 250.00, 2, 250.05),  # 250.05 exactly stays
    (Side.SELL, 250.00, 2, 249.95),  # 249.95 exactly stays
    (Side.BUY, 1234.55, 0, 1234.55),  # on a tick, no slippage: unchanged
    (Side.SELL, 1234.55, 0, 1234.55),
    (Side.BUY, 0.15, 0, 0.15),  # 0.15 / 0.05 is 2.9999999999999996 in floats: still 0.15
    (Side.SELL, 0.15, 0, 0.15),
    (Side.BUY, 99.99, 0, 100.00),  # off-tick prices go to the tick against the trader
    (Side.SELL, 99.99, 0, 99.95),
    (Side.BUY, 500.00, 10, 500.50),  # 10 bps of 500 = 0.50
    (Side.SELL, 0.05, 50, 0.05),  # never below one tick
]


@pytest.mark.parametrize(("side", "price", "bps", "expected"), CASES)
def test_fill_price_slips_then_rounds_to_the_tick(
    side: Side, price: float, bps: float, expected: float
) -> None:
    got = fill_price(side, price, bps)
    assert got == expected
    assert round(got / 0.05, 6) == round(got / 0.05)  # on the tick
    assert got >= price if side is Side.BUY else got <= price


@pytest.mark.parametrize("price", [0.0, -1.0, float("nan"), float("inf")])
def test_fill_price_refuses_bad_prices(price: float) -> None:
    with pytest.raises(InvalidValueError, match="must be finite and > 0"):
        fill_price(Side.BUY, price, 2)
