"""The backtest runs the live session's core: same signals and fills, and an honest report."""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "live"))
from live_support import DAY, KEYS, FakeIngest, FakeTime, config, sample_bars, seed_history

from pixity.backtest import run_backtest, summary, trades, trades_frame
from pixity.cli import main
from pixity.errors import ConfigError
from pixity.live.engine import LiveEngine
from pixity.live.stores import SessionStores
from pixity.markettime import IST, format_ts
from pixity.stores.lake import write_bars

PARAMS = {"strategy_params": {"ref_ema_cross": {"min_confidence": 0.0}}}


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def test_the_backtest_of_a_days_bars_is_the_live_session_of_them(tmp_path: Path) -> None:
    seed_history(tmp_path)
    bars = sample_bars()
    ingest = FakeIngest(tmp_path, bars)
    feed = datetime_at(9, 15)
    ingest.commit_until(feed)
    clock = FakeTime()
    engine = LiveEngine(config(tmp_path, until="13:00", **PARAMS), SessionStores(tmp_path),
                        monotonic=clock.monotonic, sleep=clock.sleep)  # fmt: skip
    engine.start()
    while not engine.done:
        feed += timedelta(seconds=20)
        ingest.commit_until(feed)
        engine.step()
    engine.finish("finished")
    engine.stores.close()
    write_bars(tmp_path, bars)  # the day, as the ingest's rollover would put it in the lake
    result = run_backtest(config(tmp_path, until="13:00", **PARAMS), DAY, DAY)
    live = rows(tmp_path / "signals/signals.db", "SELECT symbol, bar_ts, signal_type, confidence, status FROM signals")  # fmt: skip
    ours = [(s.symbol, format_ts(s.timestamp), s.signal_type.value, s.confidence,
             result.signals.status[i][0].value) for i, s in result.signals.signals.items()]  # fmt: skip
    assert live and sorted(ours) == sorted(live)
    live_fills = rows(tmp_path / "paper/paper.db", "SELECT fill_id, side, quantity, price, ts, costs FROM fills")  # fmt: skip
    our_fills = [(f.fill_id, f.side.value, f.quantity, f.price, format_ts(f.ts), f.costs) for f in result.fills]  # fmt: skip
    assert live_fills and sorted(our_fills) == sorted(live_fills)


def datetime_at(hh: int, mm: int):  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime(DAY.year, DAY.month, DAY.day, hh, mm, tzinfo=IST)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    seed_history(tmp_path)
    write_bars(tmp_path, sample_bars())
    return tmp_path


def test_report_figures_agree_with_the_trades(lake: Path) -> None:
    result = run_backtest(config(lake, **PARAMS), date(2025, 5, 30), DAY)
    report = summary(result)
    done = trades(result)
    assert report["days"] == 3 and report["trades"] == len(done) > 0
    assert report["net_pnl"] == pytest.approx(sum(t.net for t in done), abs=0.05)  # squared off
    assert report["hit_rate"] == sum(t.net > 0 for t in done) / len(done)
    assert report["costs"] == pytest.approx(sum(f.costs for f in result.fills), abs=0.01)
    assert report["total_return"] == pytest.approx(report["net_pnl"] / 100_000)
    assert 0 <= report["max_drawdown"] and report["sharpe"] is not None
    assert set(report["signals_per_day"]) == set(KEYS)
    table = trades_frame(result)
    assert list(table["net"]) == [round(t.net, 2) for t in done]
    assert run_backtest(config(lake, **PARAMS), date(2025, 5, 30), DAY).fills == result.fills


def test_no_bars_in_range_or_a_reversed_range_is_a_clear_error(lake: Path) -> None:
    with pytest.raises(ConfigError, match="history lake"):
        run_backtest(config(lake), date(2024, 1, 1), date(2024, 1, 31))
    with pytest.raises(ConfigError, match="before"):
        run_backtest(config(lake), DAY, date(2025, 5, 30))


def test_cli_prints_the_json_report(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["backtest", "--data-dir", str(lake), "--symbols", *KEYS, "--strategies",
                 "ref_ema_cross", "--from", "2025-06-02", "--to", "2025-06-03", "--json"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in ("trades", "total_return", "sharpe", "max_drawdown", "hit_rate", "costs", "signals_per_day"):  # fmt: skip
        assert key in report
    assert report["days"] == 2
