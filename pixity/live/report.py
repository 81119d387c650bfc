"""The session report: the summary and the plots the notebook's last cells show.

Everything is read back from the stores, read-only, after the session stopped: the report
shows what was recorded, not what the engine believed.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pixity.live.session import SessionResult
from pixity.markettime import format_ts
from pixity.stores.paper import PaperReader
from pixity.stores.paths import StorePaths
from pixity.stores.signals import SignalReader


def signals_frame(result: SessionResult) -> pd.DataFrame:
    """Return the session day's signals of the session's strategies, oldest bar first."""
    columns = ["bar_ts", "symbol", "strategy_id", "signal_type", "confidence", "status", "reason"]
    if result.session_date is None:
        return pd.DataFrame(columns=columns)
    day = result.session_date.isoformat()
    with SignalReader(StorePaths(result.config.data_dir).signals) as reader:
        stored = reader.recent(limit=100_000)
    rows = [
        {
            "bar_ts": format_ts(s.signal.timestamp),
            "symbol": s.signal.symbol,
            "strategy_id": s.signal.strategy_id,
            "signal_type": s.signal.signal_type.value,
            "confidence": s.signal.confidence,
            "status": s.status.value,
            "reason": s.status_reason,
        }
        for s in stored
        if s.signal.timestamp.date().isoformat() == day
        and s.signal.strategy_id in result.config.strategies
        and s.signal.symbol in result.config.symbols
    ]
    return pd.DataFrame(rows, columns=columns).sort_values(["bar_ts", "symbol"], ignore_index=True)


def fills_frame(result: SessionResult) -> pd.DataFrame:
    """Return the session day's fills, in time order."""
    columns = ["ts", "symbol", "side", "quantity", "price", "costs", "order_id"]
    if result.session_date is None:
        return pd.DataFrame(columns=columns)
    with PaperReader(StorePaths(result.config.data_dir).paper) as reader:
        fills = reader.fills()
    rows = [
        {
            "ts": f.ts,
            "symbol": f.symbol,
            "side": f.side.value,
            "quantity": f.quantity,
            "price": f.price,
            "costs": f.costs,
            "order_id": f.order_id,
        }
        for f in fills
        if f.ts.date() == result.session_date and f.symbol in result.config.symbols
    ]
    return pd.DataFrame(rows, columns=columns)


def summary(result: SessionResult) -> dict[str, Any]:
    """Return the session's headline figures."""
    signals = signals_frame(result)
    fills = fills_frame(result)
    pnl = None
    if result.session_date is not None:
        with PaperReader(StorePaths(result.config.data_dir).paper) as reader:
            pnl = reader.day_pnl(result.session_date.isoformat())
    return {
        "session_date": None if result.session_date is None else result.session_date.isoformat(),
        "stopped": result.stop_reason,
        "bars_15m": result.counts.bars_15m,
        "signals": len(signals),
        "signals_by_type": signals["signal_type"].value_counts().to_dict(),
        "signals_by_status": signals["status"].value_counts().to_dict(),
        "fills": len(fills),
        "realised": None if pnl is None else round(pnl.realised, 2),
        "unrealised": None if pnl is None else round(pnl.unrealised, 2),
        "costs": None if pnl is None else round(pnl.costs, 2),
        "net_pnl": None if pnl is None else round(pnl.total, 2),
        "killed": None if pnl is None else pnl.killed,
        "strategy_errors": result.counts.strategy_errors,
        "late_bars": result.counts.late_bars,
    }


def positions_over_time(fills: pd.DataFrame) -> pd.DataFrame:
    """Return the net position of each symbol after each fill (one column per symbol)."""
    if fills.empty:
        return pd.DataFrame()
    signed = fills.assign(q=fills["quantity"].where(fills["side"] == "BUY", -fills["quantity"]))
    table = signed.pivot_table(index="ts", columns="symbol", values="q", aggfunc="sum")
    return table.fillna(0).cumsum()


def plot(result: SessionResult) -> Any:
    """Plot the equity curve and the positions; return the matplotlib figure."""
    import matplotlib.pyplot as plt  # in a kernel, the inline backend embeds it in the report

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    equity = result.equity
    if not equity.empty:
        top.plot(equity["ts"], equity["total"], label="net P&L")
        top.plot(equity["ts"], -equity["costs"], label="costs", linestyle=":")
    top.axhline(-result.config.max_daily_loss, color="red", linestyle="--", label="max daily loss")
    top.set_ylabel("rupees")
    top.legend(loc="best")
    top.set_title(f"paper session {result.session_date}: equity")
    positions = positions_over_time(fills_frame(result))
    for symbol in positions.columns:
        bottom.step(positions.index, positions[symbol], where="post", label=symbol)
    bottom.set_ylabel("shares")
    if len(positions.columns):
        bottom.legend(loc="best")
    fig.tight_layout()
    return fig


def runner_frame(result: SessionResult) -> pd.DataFrame:
    """Return each runner's state as the session left it."""
    return pd.DataFrame(result.runner_states)
