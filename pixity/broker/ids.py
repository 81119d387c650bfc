"""Deterministic order and fill ids, so a replay after a restart writes no new rows.

Ids must match the domain's ``[A-Za-z0-9_.:-]{1,80}``; instrument keys hold '|' and spaces
and signal ids may already be 80 characters long, so what identifies an order is hashed.
"""

from __future__ import annotations

import hashlib
from datetime import date

_HASH_CHARS = 24


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:_HASH_CHARS]


def signal_order_id(signal_id: str, leg: str) -> str:
    """Return the id of the ``leg`` ("exit" or "entry") order placed for a signal."""
    return f"ord-{_digest(signal_id, leg)}"


def flatten_order_id(
    kind: str, strategy_id: str, symbol: str, session_date: date, counter: int
) -> str:
    """Return the id of a flattening order (``kind`` "sqoff" or "kill").

    ``counter`` is the number of fills so far in the session: it is the same after a
    restart, and it moves on once the previous flattening order has filled.
    """
    return f"{kind}-{_digest(kind, strategy_id, symbol, session_date.isoformat(), str(counter))}"


def fill_id(order_id: str) -> str:
    """Return the id of the fill of order ``order_id`` (a market order fills in one go)."""
    return f"fill-{order_id}"
