"""Backtests for research: each strategy alone over the lake, and their reports side by side.

A strategy is backtested on its own (its own capital and daily-loss limit): run together,
strategies share the paper account's capital and risk, and one's trades would change the
other's. ``run_each`` calls ``pixity.backtest.run_backtest`` once per strategy with the same
session parameters (``SessionConfig.from_params``'s names), each with its own
``strategy_params`` entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd

from pixity.backtest import BacktestResult, run_backtest, summary
from pixity.errors import ConfigError
from pixity.live.config import SessionConfig
from pixity.live.core import make_runners, warmup_start
from pixity.markettime import nse_calendar
from pixity.research.data import as_date

COMPARED = (
    "days", "trades", "net_pnl", "total_return", "sharpe", "max_drawdown", "hit_rate", "costs",
    "signals", "killed_days", "strategy_errors",
)  # fmt: skip


def _strategies(params: Mapping[str, object]) -> list[str]:
    strategies = params.get("strategies")
    if isinstance(strategies, str) or not isinstance(strategies, list | tuple) or not strategies:
        raise ConfigError("params need 'strategies': a list of strategy ids")
    return [str(s) for s in strategies]


def _alone(params: Mapping[str, object], strategy: str) -> SessionConfig:
    """Return the session config of ``params`` running ``strategy`` alone."""
    own = params.get("strategy_params") or {}
    if not isinstance(own, Mapping):
        raise ConfigError("strategy_params must map strategy ids to their parameters")
    values: dict[str, Any] = dict(params)
    values["strategies"] = [strategy]
    values["strategy_params"] = {strategy: own[strategy]} if strategy in own else {}
    return SessionConfig.from_params(values)


def history_start(params: Mapping[str, object], start: date | str) -> date:
    """Return the first day of 1m history a backtest of ``params`` from ``start`` needs.

    The strategies warm up on the days before the first session day, as a live session does.
    """
    first = as_date(start)
    calendar = nse_calendar()
    if not calendar.is_trading_day(first):
        first = calendar.next_trading_day(first)
    return min(
        warmup_start(make_runners(config), first, config.warmup_days)
        for config in (_alone(params, s) for s in _strategies(params))
    )


def run_each(
    params: Mapping[str, object], start: date | str, end: date | str
) -> dict[str, BacktestResult]:
    """Backtest each of ``params['strategies']`` alone from ``start`` to ``end``, by id."""
    first, last = as_date(start), as_date(end)
    return {s: run_backtest(_alone(params, s), first, last) for s in _strategies(params)}


def compare(results: Mapping[str, BacktestResult]) -> pd.DataFrame:
    """Return the backtests' main figures side by side, one row per strategy."""
    rows = {}
    for name, result in results.items():
        report = summary(result)
        row = {key: report[key] for key in COMPARED}
        row["signals_per_day"] = sum(report["signals_per_day"].values())
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "strategy"
    return table
