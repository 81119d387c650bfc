"""The paper broker and its risk manager: a pure core (no stores, feeds or network).

``PaperBroker`` turns signals into market orders that fill at the next price seen, with
slippage and Indian equity-intraday charges, and enforces the risk rules: gross exposure
within max capital, a daily loss kill, no entries after the cutoff, and square-off.
"""

from __future__ import annotations

from pixity.broker.config import BrokerConfig
from pixity.broker.costs import ChargeRates, charge_breakdown, charges
from pixity.broker.outcomes import SignalOutcome
from pixity.broker.paper import PaperBroker, PaperLedger
from pixity.broker.pricing import fill_price

__all__ = [
    "BrokerConfig",
    "ChargeRates",
    "PaperBroker",
    "PaperLedger",
    "SignalOutcome",
    "charge_breakdown",
    "charges",
    "fill_price",
]
