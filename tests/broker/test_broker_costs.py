"""Charges on one executed order, against figures worked by hand."""

from __future__ import annotations

import pytest

from pixity.broker import ChargeRates, charge_breakdown, charges
from pixity.domain import Side
from pixity.errors import ConfigError, InvalidValueError

RATES = ChargeRates()

# (side, qty, price, breakdown, total), turnover = qty x price, default rates:
# brokerage min(₹20, 0.05%), STT 0.025% sell, exchange 0.00297%, SEBI ₹10/crore,
# stamp 0.003% buy, GST 18% of (brokerage + exchange + SEBI); each rounded half up to paise.
HAND = [
    # BUY 100 @ 250.50 = 25,050: 12.525 -> 12.53; 0.7439985 -> 0.74; 0.02505 -> 0.03;
    # stamp 0.7515 -> 0.75; GST 0.18 x 13.30 = 2.394 -> 2.39
    (
        Side.BUY,
        100,
        250.50,
        dict(brokerage=12.53, stt=0.0, exchange_txn=0.74, sebi=0.03, stamp_duty=0.75, gst=2.39),
        16.44,
    ),
    # SELL 100 @ 255.00 = 25,500: 12.75; STT 6.375 -> 6.38; 0.75735 -> 0.76; 0.0255 -> 0.03;
    # GST 0.18 x 13.54 = 2.4372 -> 2.44
    (
        Side.SELL,
        100,
        255.00,
        dict(brokerage=12.75, stt=6.38, exchange_txn=0.76, sebi=0.03, stamp_duty=0.0, gst=2.44),
        22.36,
    ),
    # BUY 1000 @ 500 = 5,00,000: brokerage capped at 20 (0.05% = 250); 14.85; 0.50; stamp 15.00;
    # GST 0.18 x 35.35 = 6.363 -> 6.36
    (
        Side.BUY,
        1000,
        500.0,
        dict(brokerage=20.0, stt=0.0, exchange_txn=14.85, sebi=0.5, stamp_duty=15.0, gst=6.36),
        56.71,
    ),
    # SELL 1000 @ 500: STT 125.00 instead of stamp
    (
        Side.SELL,
        1000,
        500.0,
        dict(brokerage=20.0, stt=125.0, exchange_txn=14.85, sebi=0.5, stamp_duty=0.0, gst=6.36),
        166.71,
    ),
]


@pytest.mark.parametrize(("side", "qty", "price", "breakdown", "total"), HAND)
def test_charges_match_hand_computed_figures(
    side: Side, qty: int, price: float, breakdown: dict[str, float], total: float
) -> None:
    assert charge_breakdown(RATES, side, qty, price) == breakdown
    assert charges(RATES, side, qty, price) == total
    assert round(sum(breakdown.values()), 2) == total


def test_half_a_paisa_rounds_up() -> None:
    # SEBI fee on 25,000: 25,000 x 10 / 1 crore = 0.025 exactly -> 0.03, not 0.02
    assert charge_breakdown(RATES, Side.BUY, 100, 250.0)["sebi"] == 0.03


def test_flat_brokerage_plan_is_configurable() -> None:
    flat = ChargeRates(brokerage_pct=100.0, brokerage_cap=20.0)
    assert charge_breakdown(flat, Side.BUY, 1, 100.0)["brokerage"] == 20.0
    free = ChargeRates(
        brokerage_pct=0, stt_sell_pct=0, exchange_txn_pct=0, sebi_per_crore=0, stamp_buy_pct=0
    )
    assert charges(free, Side.SELL, 100, 250.0) == 0.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("brokerage_pct", -0.1),
        ("gst_pct", float("nan")),
        ("stt_sell_pct", float("inf")),
        ("brokerage_cap", True),
        ("sebi_per_crore", "10"),
    ],
)
def test_rates_must_be_finite_and_not_negative(name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"charge rate {name}"):
        ChargeRates(**{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("side", "qty", "price", "message"),
    [
        (Side.BUY, 0, 100.0, "quantity 0 must be an int > 0"),
        (Side.BUY, 1.5, 100.0, "quantity 1.5"),
        (Side.SELL, 10, 0.0, "price 0.0 must be finite and > 0"),
        (Side.SELL, 10, float("nan"), "price nan"),
        ("BUY", 10, 100.0, "must be a Side"),
    ],
)
def test_charges_refuse_bad_orders(side: Side, qty: int, price: float, message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        charges(RATES, side, qty, price)
