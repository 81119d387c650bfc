"""Research backtests: each strategy alone over the lake, with the warm-up it needs."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pixity.backtest import run_backtest, summary
from pixity.errors import ConfigError
from pixity.live.config import SessionConfig
from pixity.markettime import nse_calendar
from pixity.research import backtests, data

SYMBOLS = ["NSE_EQ|INE002A01018", "NSE_EQ|INE009A01021"]
START = END = date(2025, 4, 2)


def params(data_dir: Path, strategies: list[str], **extra: object) -> dict[str, object]:
    return {
        "symbols": SYMBOLS, "strategies": strategies, "max_capital": 100000.0,
        "max_daily_loss": 5000.0, "data_dir": str(data_dir), "run_id": "test", **extra,
    }  # fmt: skip


def test_history_starts_the_warm_up_days_before_the_first_session(tmp_path: Path) -> None:
    both = params(tmp_path, ["pixityAI_meta", "ref_ema_cross"])
    first = backtests.history_start(both, START)
    calendar = nse_calendar()
    assert calendar.trading_days(first, START)[-1] == START
    assert len(calendar.trading_days(first, START)) == 8  # pixityAI_meta needs 7 days of 25 bars
    assert backtests.history_start(both, date(2025, 4, 5)) == backtests.history_start(
        both, date(2025, 4, 7)
    )  # a weekend starts on the next trading day


def test_each_strategy_runs_alone_and_as_run_backtest_would(tmp_path: Path) -> None:
    strategy_params = {"ref_ema_cross": {"min_confidence": 0.0}}
    both = params(tmp_path, ["pixityAI_meta", "ref_ema_cross"], strategy_params=strategy_params)
    data.write_sample_lake(tmp_path, SYMBOLS, backtests.history_start(both, START), END)
    results = backtests.run_each(both, START, END)
    assert list(results) == ["pixityAI_meta", "ref_ema_cross"]
    for name, result in results.items():
        assert result.config.strategies == (name,)
    assert dict(results["ref_ema_cross"].config.strategy_params) == strategy_params
    # pixityAI_meta finds its models under the session's data dir.
    assert dict(results["pixityAI_meta"].config.strategy_params) == {
        "pixityAI_meta": {"data_dir": str(tmp_path)}
    }
    alone = run_backtest(
        SessionConfig.from_params(
            params(tmp_path, ["ref_ema_cross"], strategy_params=strategy_params)
        ),
        START,
        END,
    )
    assert summary(alone) == summary(results["ref_ema_cross"])
    table = backtests.compare(results)
    assert table.index.tolist() == ["pixityAI_meta", "ref_ema_cross"]
    assert table.loc["ref_ema_cross", "trades"] == summary(alone)["trades"] > 0
    assert set(backtests.COMPARED) < set(table.columns)


def test_strategies_must_be_a_list(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="strategies"):
        backtests.run_each(params(tmp_path, "ref_ema_cross"), START, END)  # type: ignore[arg-type]
