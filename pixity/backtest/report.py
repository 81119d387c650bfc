"""A backtest's report: trades, equity, return, Sharpe, drawdown, hit rate, costs, signal rate."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pixity.backtest.run import BacktestResult
from pixity.broker.book import signed_quantity
from pixity.domain import Fill
from pixity.markettime import format_ts

TRADING_DAYS = 252


@dataclass(frozen=True, slots=True, kw_only=True)
class Trade:
    """A round trip of one (strategy, symbol): from flat back to flat."""

    strategy_id: str
    symbol: str
    side: str  # LONG or SHORT
    entry_ts: str
    exit_ts: str
    quantity: int
    gross: float  # cash in minus cash out
    costs: float

    @property
    def net(self) -> float:
        """Return the trade's P&L after its fills' charges."""
        return self.gross - self.costs


def trades(result: BacktestResult) -> list[Trade]:
    """Return the round trips the fills make, in order of their exits."""
    strategy_of = {order_id: o.strategy_id for order_id, o in result.orders.items()}
    # Each session day starts flat (a fresh broker): round trips never span days.
    by_key: dict[tuple[object, str, str], list[Fill]] = defaultdict(list)
    for fill in result.fills:
        by_key[(fill.ts.date(), strategy_of[fill.order_id], fill.symbol)].append(fill)
    out = []
    for (_day, strategy_id, symbol), fills in by_key.items():
        held, leg = 0, []
        for fill in sorted(fills, key=lambda f: (f.ts, f.fill_id)):
            leg.append(fill)
            held += signed_quantity(fill.side, fill.quantity)
            if held == 0:
                out.append(_trade(strategy_id, symbol, leg))
                leg = []
    return sorted(out, key=lambda t: t.exit_ts)


def _trade(strategy_id: str, symbol: str, leg: list[Fill]) -> Trade:
    first = leg[0]
    gross = sum(-signed_quantity(f.side, f.quantity) * f.price for f in leg)
    return Trade(
        strategy_id=strategy_id, symbol=symbol,
        side="LONG" if first.side.value == "BUY" else "SHORT",
        entry_ts=format_ts(first.ts), exit_ts=format_ts(leg[-1].ts), quantity=first.quantity,
        gross=round(gross, 2), costs=round(sum(f.costs for f in leg), 2),
    )  # fmt: skip


def equity_frame(result: BacktestResult) -> pd.DataFrame:
    """Return the equity curve: cumulative net P&L at every 15m close of every day."""
    rows, carried = [], 0.0
    for day in result.days:
        for ts, realised, unrealised, costs in day.equity:
            rows.append({"ts": ts, "equity": carried + realised + unrealised - costs})
        carried += day.realised + day.unrealised - day.costs
    return pd.DataFrame(rows, columns=["ts", "equity"])


def summary(result: BacktestResult) -> dict[str, Any]:
    """Return the report's figures (what ``pixity backtest --json`` prints)."""
    capital = result.config.max_capital
    daily = [(d.realised + d.unrealised - d.costs) / capital for d in result.days]
    done = trades(result)
    equity = equity_frame(result)
    net = sum(d.realised + d.unrealised - d.costs for d in result.days)
    per_symbol = Counter(s.symbol for s in result.signals.signals.values())
    days = max(len(result.days), 1)
    return {
        "days": len(result.days),
        "symbols": list(result.config.symbols),
        "strategies": list(result.config.strategies),
        "trades": len(done),
        "net_pnl": round(net, 2),
        "total_return": net / capital,
        "sharpe": _sharpe(daily),
        "max_drawdown": _max_drawdown(equity["equity"].tolist(), capital),
        "hit_rate": None if not done else sum(t.net > 0 for t in done) / len(done),
        "costs": round(sum(d.costs for d in result.days), 2),
        "signals": len(result.signals.signals),
        "signals_per_day": {s: per_symbol.get(s, 0) / days for s in result.config.symbols},
        "killed_days": sum(d.killed for d in result.days),
        "strategy_errors": result.strategy_errors,
    }


def _sharpe(daily: list[float]) -> float | None:
    if len(daily) < 2:
        return None
    mean = sum(daily) / len(daily)
    var = sum((r - mean) ** 2 for r in daily) / (len(daily) - 1)
    return None if var <= 0 else mean / math.sqrt(var) * math.sqrt(TRADING_DAYS)


def _max_drawdown(curve: list[float], capital: float) -> float:
    """Return the largest peak-to-trough fall of the equity curve, as a share of capital."""
    peak, worst = 0.0, 0.0
    for value in curve:
        peak = max(peak, value)
        worst = max(worst, peak - value)
    return worst / capital


def trades_frame(result: BacktestResult) -> pd.DataFrame:
    """Return the round trips as a table."""
    rows = [
        {"strategy_id": t.strategy_id, "symbol": t.symbol, "side": t.side, "entry_ts": t.entry_ts,
         "exit_ts": t.exit_ts, "quantity": t.quantity, "gross": t.gross, "costs": t.costs,
         "net": round(t.net, 2)}
        for t in trades(result)
    ]  # fmt: skip
    return pd.DataFrame(rows)
