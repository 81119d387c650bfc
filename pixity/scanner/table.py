"""The scanner's table: one row per (symbol, strategy), joined in memory from four reads.

Runner state comes from config.db, the day's first open and last close from market.db, the
last signal from signals.db and the day's position from paper.db. Each lookup is a dict keyed
by symbol or (strategy_id, symbol), and the table is built column by column: 500 rows in a
few milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from pixity.domain import RunnerStatus
from pixity.scanner.columns import OVERVIEW, build_frame
from pixity.scanner.queries import RUNNER_FIELDS, DayPrice, Key, PositionRow, SignalRow
from pixity.stores.sqlite import Row

ATTENTION = frozenset({RunnerStatus.STALE.value, RunnerStatus.ERROR.value})
_NO_PRICE = DayPrice(math.nan, math.nan, None)
_NO_SIGNAL: tuple[None, float, None, None] = (None, math.nan, None, None)
_FLAT: PositionRow = (0, None, 0.0)


def overview_frame(
    runners: Sequence[Row],
    prices: Mapping[str, DayPrice],
    signals: Mapping[Key, SignalRow],
    positions: Mapping[Key, PositionRow],
) -> pd.DataFrame:
    """Return the overview table (``columns.OVERVIEW``) in the order of ``runners``."""
    if not runners:
        return build_frame(OVERVIEW)
    cols: dict[str, Sequence[Any]] = dict(
        zip(RUNNER_FIELDS, zip(*runners, strict=True), strict=True)
    )
    keys = list(zip(cols["strategy_id"], cols["symbol"], strict=True))
    day = [prices.get(symbol, _NO_PRICE) for symbol in cols["symbol"]]
    last = [p.last_price for p in day]
    cols["name"] = cols["symbol"]  # the instrument key, until names are imported
    cols["last_price"] = last
    cols["change_pct"] = [(p.last_price / p.first_open - 1.0) * 100.0 for p in day]
    cols["price_ts"] = [p.last_ts for p in day]
    sig: list[Sequence[Any]] = [signals.get(key, _NO_SIGNAL) for key in keys]
    for i, name in enumerate(
        ("last_signal", "last_signal_confidence", "last_signal_bar_ts", "last_signal_status")
    ):
        cols[name] = [s[i] for s in sig]
    pos = [positions.get(key, _FLAT) for key in keys]
    realised = [p[2] for p in pos]
    unrealised = [_unrealised(p[0], p[1], price) for p, price in zip(pos, last, strict=True)]
    cols["position"] = [p[0] for p in pos]
    cols["avg_price"] = [math.nan if p[1] is None else p[1] for p in pos]
    cols["realised_pnl"] = realised
    cols["unrealised_pnl"] = unrealised
    cols["pnl"] = [r + u for r, u in zip(realised, unrealised, strict=True)]
    cols["attention"] = [status in ATTENTION for status in cols["status"]]
    return build_frame(OVERVIEW, cols)


def _unrealised(quantity: int, avg_price: float | None, last: float) -> float:
    """Return the open position's P&L at ``last`` (NaN if unpriced); 0 when flat."""
    if quantity == 0 or avg_price is None:
        return 0.0
    return (last - avg_price) * quantity
