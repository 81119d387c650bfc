"""Backtests that run the live session's own core over the history lake."""

from pixity.backtest.report import equity_frame, summary, trades, trades_frame
from pixity.backtest.run import BacktestResult, run_backtest

__all__ = ["BacktestResult", "equity_frame", "run_backtest", "summary", "trades", "trades_frame"]
