"""Indian equity-intraday charges on one executed order, in rupees rounded to paise.

Arithmetic is done in ``Decimal`` from the shortest text of each float, so a charge that is
exactly half a paisa on paper (e.g. a SEBI fee of ₹0.025) rounds up as a contract note does,
instead of falling either way with binary floating point.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal

from pixity.domain import Side
from pixity.errors import ConfigError, InvalidValueError

_PAISA = Decimal("0.01")
_HUNDRED = Decimal(100)
_CRORE = Decimal(10_000_000)
_ZERO = Decimal(0)

# The order of the components in a breakdown (and on a contract note).
COMPONENTS = ("brokerage", "stt", "exchange_txn", "sebi", "stamp_duty", "gst")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeRates:
    """Rates of the charges on an NSE equity-intraday order; every ``*_pct`` is in percent.

    Defaults, per executed order (a paper fill), as published for Upstox equity intraday and
    by the exchange and regulators:

    - brokerage: 0.05% of turnover capped at ₹20 (``brokerage_pct`` 0.05, ``brokerage_cap``
      20). Upstox has quoted intraday brokerage as "₹20 or 0.05%, whichever is lower" for its
      basic plan; some of its later pages quote a flat ₹20 or a different percentage, so check
      https://upstox.com/brokerage-charges/ for the plan in use. A flat ₹20 is
      ``brokerage_pct`` large (e.g. 100) with ``brokerage_cap`` 20.
    - STT: 0.025% of turnover on the sell side only (equity intraday).
    - exchange transaction charge: NSE 0.00297% of turnover, both sides (NSE's rate from
      1 October 2024; it was 0.00322% before and 0.00345% earlier still).
    - SEBI turnover fee: ₹10 per crore (0.0001%), both sides.
    - stamp duty: 0.003% of turnover on the buy side only (intraday rate since July 2020).
    - GST: 18% on brokerage + exchange transaction charge + SEBI fee (not on STT or stamp).

    Each component is rounded to the paisa (half up); GST is charged on the rounded components.
    """

    brokerage_pct: float = 0.05
    brokerage_cap: float = 20.0
    stt_sell_pct: float = 0.025
    exchange_txn_pct: float = 0.00297
    sebi_per_crore: float = 10.0
    stamp_buy_pct: float = 0.003
    gst_pct: float = 18.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ConfigError(
                    f"charge rate {field.name} {value!r} must be a finite number >= 0"
                )


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def _pct(value: float) -> Decimal:
    return _dec(value) / _HUNDRED


def _paise(amount: Decimal) -> Decimal:
    return amount.quantize(_PAISA, rounding=ROUND_HALF_UP)


def _turnover(side: Side, quantity: int, price: float) -> Decimal:
    if not isinstance(side, Side):
        raise InvalidValueError(f"side {side!r} must be a Side")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise InvalidValueError(f"quantity {quantity!r} must be an int > 0")
    if (
        isinstance(price, bool)
        or not isinstance(price, int | float)
        or not math.isfinite(price)
        or price <= 0
    ):
        raise InvalidValueError(f"price {price!r} must be finite and > 0")
    return _dec(price) * quantity


@functools.lru_cache(maxsize=64)
def _decimal_rates(rates: ChargeRates) -> tuple[Decimal, ...]:
    """Return the rates as the Decimals the arithmetic uses (made once per set of rates: a
    backtest charges every fill)."""
    return (
        _pct(rates.brokerage_pct), _dec(rates.brokerage_cap), _pct(rates.exchange_txn_pct),
        _dec(rates.sebi_per_crore), _pct(rates.stt_sell_pct), _pct(rates.stamp_buy_pct),
        _pct(rates.gst_pct),
    )  # fmt: skip


def _components(rates: ChargeRates, side: Side, quantity: int, price: float) -> dict[str, Decimal]:
    value = _turnover(side, quantity, price)
    brokerage_pct, brokerage_cap, exchange_pct, sebi_per_crore, stt_pct, stamp_pct, gst_pct = (
        _decimal_rates(rates)
    )
    brokerage = _paise(min(value * brokerage_pct, brokerage_cap))
    exchange = _paise(value * exchange_pct)
    sebi = _paise(value * sebi_per_crore / _CRORE)
    selling = side is Side.SELL
    return {
        "brokerage": brokerage,
        "stt": _paise(value * stt_pct) if selling else _ZERO,
        "exchange_txn": exchange,
        "sebi": sebi,
        "stamp_duty": _ZERO if selling else _paise(value * stamp_pct),
        "gst": _paise((brokerage + exchange + sebi) * gst_pct),
    }


def charge_breakdown(
    rates: ChargeRates, side: Side, quantity: int, price: float
) -> dict[str, float]:
    """Return each charge on an order of ``quantity`` at ``price``, in rupees, for reports."""
    return {
        name: float(amount) for name, amount in _components(rates, side, quantity, price).items()
    }


def charges(rates: ChargeRates, side: Side, quantity: int, price: float) -> float:
    """Return the total charges on an order of ``quantity`` at ``price``, in rupees (paise)."""
    return float(sum(_components(rates, side, quantity, price).values(), _ZERO))
