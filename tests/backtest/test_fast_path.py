"""The backtest's fast path gives exactly what running every 1m bar through SessionCore.apply
gives (``reference=True``, the way a live session runs): every signal and where it ended,
every order, fill and equity point, on seeded random configs over sample-market days; and
days run in worker processes give what one process gives."""

from __future__ import annotations

import gc
import multiprocessing
import random
from datetime import date, time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pixity.backtest import run_backtest, workers
from pixity.backtest.run import BacktestResult
from pixity.errors import StoreError
from pixity.live.config import SessionConfig
from pixity.markettime import nse_calendar
from pixity.sample import SampleMarket, SymbolProfile
from pixity.stores import lake

KEYS = (
    "NSE_EQ|INE155A01022",
    "NSE_EQ|INE118H01025",
    "NSE_EQ|INE002A01018",
    "NSE_EQ|INE467B01029",  # illiquid: minutes with no bar, windows without their last minute
    "NSE_EQ|INE040A01034",  # very illiquid
)
PROFILES = {
    KEYS[3]: SymbolProfile(base_price=250.0, ticks_per_minute=1.5),
    KEYS[4]: SymbolProfile(base_price=1200.0, ticks_per_minute=0.6),
}
DAYS = nse_calendar().trading_days(date(2025, 5, 2), date(2025, 5, 16))
MISSING = DAYS[4]  # a trading day the lake lacks: a hole in later days' warm-up
SESSIONS = DAYS[6:]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    market = SampleMarket(list(KEYS), seed=5, profiles=PROFILES)
    lake.write_bars(root, market.bars_frame([d for d in DAYS if d != MISSING]))
    return root


def snapshot(result: BacktestResult) -> dict[str, Any]:
    """Return everything a backtest did, in order, comparable exactly (floats by ==)."""
    return {
        "days": result.days,
        "signals": list(result.signals.signals.items()),
        "status": list(result.signals.status.items()),
        "fills": result.fills,
        "orders": list(result.orders.items()),
        "strategy_errors": result.strategy_errors,
    }


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def random_params(rnd: random.Random) -> dict[str, object]:
    """A session config that reaches the broker's corners: kills, refusals, cut-off sessions."""
    fast = rnd.choice([2, 3, 4])
    square_off = rnd.choice([None, rnd.randint(9 * 60 + 16, 15 * 60 + 30)])
    params: dict[str, object] = {
        "symbols": rnd.sample(KEYS, rnd.randint(1, len(KEYS))),
        "strategies": ["ref_ema_cross"],
        "max_capital": rnd.choice([2e4, 1e5, 1e6]),
        "max_daily_loss": rnd.choice([30.0, 120.0, 400.0, 2000.0, 1e5]),
        "slippage_bps": rnd.choice([0.0, 2.0, 15.0]),
        "strategy_params": {"ref_ema_cross": {
            "fast": fast, "slow": rnd.randint(fast + 1, 9), "exit_after": rnd.randint(0, 5),
            "min_confidence": rnd.choice([0.0, 0.0, 0.05, 0.3]),
        }},
        "run_id": "fast-path",
    }  # fmt: skip
    if rnd.random() < 0.4:
        params["until"] = hhmm(rnd.randint(9 * 60 + 10, 16 * 60))
    if square_off is not None:
        params["square_off"] = hhmm(square_off)
        params["entry_cutoff"] = hhmm(rnd.randint(9 * 60 + 16, square_off))
    if rnd.random() < 0.3:
        params["per_trade_capital"] = float(params["max_capital"]) * rnd.choice([0.05, 0.5])  # type: ignore[arg-type]
    return params


def both(data_dir: Path, params: dict[str, object], start: date, end: date) -> tuple[BacktestResult, BacktestResult]:  # fmt: skip
    config = SessionConfig.from_params({**params, "data_dir": data_dir})
    return run_backtest(config, start, end), run_backtest(config, start, end, reference=True)


@pytest.mark.parametrize("seed", range(24))
def test_fast_path_equals_the_bar_by_bar_path(data_dir: Path, seed: int) -> None:
    rnd = random.Random(seed)
    params = random_params(rnd)
    first = rnd.randrange(len(SESSIONS) - 2)
    fast, reference = both(data_dir, params, SESSIONS[first], SESSIONS[first + 2])
    assert snapshot(fast) == snapshot(reference), params


def test_the_random_configs_reach_kills_fills_refusals_and_cut_sessions(data_dir: Path) -> None:
    seen = {"killed": 0, "fills": 0, "rejected": 0, "until": 0}
    for seed in range(24):
        rnd = random.Random(seed)
        params = random_params(rnd)
        first = rnd.randrange(len(SESSIONS) - 2)
        config = SessionConfig.from_params({**params, "data_dir": data_dir})
        result = run_backtest(config, SESSIONS[first], SESSIONS[first + 2])
        seen["killed"] += sum(d.killed for d in result.days)
        seen["fills"] += len(result.fills)
        seen["rejected"] += sum(s.value == "REJECTED" for s, _ in result.signals.status.values())
        seen["until"] += "until" in params
    assert all(n >= 3 for n in seen.values()), seen


def test_two_strategies_per_symbol_and_the_whole_range(data_dir: Path) -> None:
    params: dict[str, object] = {
        "symbols": list(KEYS), "strategies": ["ref_ema_cross", "pixityAI_meta"],
        "max_capital": 1e5, "max_daily_loss": 600.0, "run_id": "fast-path",
        "strategy_params": {"ref_ema_cross": {"min_confidence": 0.0}},
    }  # fmt: skip
    fast, reference = both(data_dir, params, SESSIONS[0], SESSIONS[-1])
    assert snapshot(fast) == snapshot(reference)
    assert fast.fills and len(fast.days) == len(SESSIONS)


def test_a_day_the_columns_do_not_take_runs_bar_by_bar(data_dir: Path, tmp_path: Path) -> None:
    # A file written by hand, rows out of time order: read_bars sorts them, the columns refuse.
    day = SESSIONS[1]
    for past in DAYS[: DAYS.index(day) + 1]:
        if past != MISSING:
            for key in KEYS[:2]:
                source = lake.file_path(data_dir, lake.BARS, past, key)
                target = lake.file_path(tmp_path, lake.BARS, past, key)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read_bytes())
    path = lake.file_path(tmp_path, lake.BARS, day, KEYS[0])
    table = pq.read_table(path)
    pq.write_table(table.take(pa.array(range(table.num_rows - 1, -1, -1))), path)
    assert lake.read_day_bars(tmp_path, KEYS[:2], day) is None
    assert lake.read_day_bars(tmp_path, KEYS[1:2], day) is not None
    params: dict[str, object] = {
        "symbols": list(KEYS[:2]), "strategies": ["ref_ema_cross"], "max_capital": 1e5,
        "max_daily_loss": 5000.0, "run_id": "fast-path", "until": "14:07",
        "strategy_params": {"ref_ema_cross": {"min_confidence": 0.0}},
    }  # fmt: skip
    fast, reference = both(tmp_path, params, SESSIONS[0], day)
    assert snapshot(fast) == snapshot(reference) and fast.fills


def test_sessions_that_end_early_or_late_see_what_a_live_one_sees(data_dir: Path) -> None:
    for until in ("09:15", "09:16", "09:29", "09:30", "12:00", "15:29", "15:30", "15:45"):
        params: dict[str, object] = {
            "symbols": list(KEYS), "strategies": ["ref_ema_cross"], "max_capital": 1e5,
            "max_daily_loss": 5000.0, "run_id": "fast-path", "until": until,
            "strategy_params": {"ref_ema_cross": {"min_confidence": 0.0, "fast": 2, "slow": 3}},
        }  # fmt: skip
        fast, reference = both(data_dir, params, SESSIONS[2], SESSIONS[3])
        assert snapshot(fast) == snapshot(reference), until


def test_the_square_off_and_cutoff_at_their_limits(data_dir: Path) -> None:
    for square_off, cutoff in (("09:16", "09:16"), ("15:30", "15:30"), ("12:07", "11:59")):
        params: dict[str, object] = {
            "symbols": list(KEYS), "strategies": ["ref_ema_cross"], "max_capital": 1e5,
            "max_daily_loss": 5000.0, "run_id": "fast-path", "square_off": square_off,
            "entry_cutoff": cutoff,
            "strategy_params": {"ref_ema_cross": {"min_confidence": 0.0, "fast": 2, "slow": 3}},
        }  # fmt: skip
        fast, reference = both(data_dir, params, SESSIONS[2], SESSIONS[3])
        assert snapshot(fast) == snapshot(reference), (square_off, cutoff)
        assert time.fromisoformat(square_off)  # the broker accepted it


# ---------------------------------------------------------------- worker processes


@pytest.mark.parametrize("workers", [2, 3])
def test_days_run_in_worker_processes_give_the_one_process_result(data_dir: Path, workers: int) -> None:  # fmt: skip
    params: dict[str, object] = {
        "symbols": list(KEYS), "strategies": ["ref_ema_cross", "pixityAI_meta"],
        "max_capital": 1e5, "max_daily_loss": 600.0, "run_id": "fast-path",
        "strategy_params": {"ref_ema_cross": {"min_confidence": 0.0}},
    }  # fmt: skip
    config = SessionConfig.from_params({**params, "data_dir": data_dir})
    one = run_backtest(config, SESSIONS[0], SESSIONS[-1], workers=1)
    seen: list[tuple[date, int, int]] = []
    many = run_backtest(
        config, SESSIONS[0], SESSIONS[-1], workers=workers,
        progress=lambda day, done, total: seen.append((day, done, total)),
    )  # fmt: skip
    assert one.processes == 1 and many.processes == workers
    assert snapshot(many) == snapshot(one) and one.fills
    assert list(many.signals.signals) == list(one.signals.signals)  # the same order too
    n = len(SESSIONS)
    assert seen == [(day, i + 1, n) for i, day in enumerate(SESSIONS)]  # every day, in order


def test_the_reference_path_in_worker_processes_gives_the_same_result(data_dir: Path) -> None:
    params = random_params(random.Random(3))
    config = SessionConfig.from_params({**params, "data_dir": data_dir})
    fast = run_backtest(config, SESSIONS[0], SESSIONS[-1], workers=1)
    reference = run_backtest(config, SESSIONS[0], SESSIONS[-1], workers=2, reference=True)
    assert snapshot(reference) == snapshot(fast)


def test_what_a_worker_raises_reaches_the_caller(data_dir: Path, tmp_path: Path) -> None:
    for past in DAYS:
        if past != MISSING:
            source = lake.file_path(data_dir, lake.BARS, past, KEYS[0])
            target = lake.file_path(tmp_path, lake.BARS, past, KEYS[0])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    lake.file_path(tmp_path, lake.BARS, SESSIONS[-1], KEYS[0]).write_bytes(b"not parquet")
    params: dict[str, object] = {
        "symbols": [KEYS[0]], "strategies": ["ref_ema_cross"], "max_capital": 1e5,
        "max_daily_loss": 5000.0, "run_id": "fast-path", "data_dir": tmp_path,
    }  # fmt: skip
    config = SessionConfig.from_params(params)
    with pytest.raises(StoreError, match="could not read lake file"):
        run_backtest(config, SESSIONS[0], SESSIONS[-1], workers=2)


def test_how_many_processes_and_which_days_each_runs() -> None:
    assert workers.process_count(None, 5) == 1  # too short to be worth a process
    assert workers.process_count(None, 10_000) == workers.available_cpus()
    assert workers.process_count(4, 3) == 3 and workers.process_count(2, 100) == 2
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="workers"):
            workers.process_count(bad, 10)  # type: ignore[arg-type]
    days = list(range(250))
    parts = workers.stretches(days, 2)
    assert [d for part in parts for d in part] == days  # contiguous, in order, all of them
    assert len(parts) == 2 * workers.STRETCHES_PER_PROCESS
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert workers.stretches([1, 2, 3], 3) == [[1], [2], [3]]


def test_a_progress_callback_that_raises_stops_the_processes(data_dir: Path) -> None:
    params: dict[str, object] = {
        "symbols": list(KEYS[:2]), "strategies": ["ref_ema_cross"], "max_capital": 1e5,
        "max_daily_loss": 5000.0, "run_id": "fast-path", "data_dir": data_dir,
    }  # fmt: skip

    def stop(day: date, done: int, total: int) -> None:
        raise KeyboardInterrupt("stop")

    with pytest.raises(KeyboardInterrupt):
        run_backtest(SessionConfig.from_params(params), SESSIONS[0], SESSIONS[-1], workers=2, progress=stop)  # fmt: skip
    assert not multiprocessing.active_children()


# ---------------------------------------------------------------- the garbage collector


@pytest.mark.parametrize("workers_", [1, 2])
def test_a_backtest_puts_the_collector_back_and_leaves_no_day_behind(data_dir: Path, tmp_path: Path, workers_: int) -> None:  # fmt: skip
    """The collector is paused while days run (each day's cycles collected at its end) and
    is put back as it was, on success and on failure."""
    params: dict[str, object] = {
        "symbols": list(KEYS), "strategies": ["ref_ema_cross"], "max_capital": 1e5,
        "max_daily_loss": 5000.0, "run_id": "fast-path", "data_dir": data_dir,
    }  # fmt: skip
    config = SessionConfig.from_params(params)
    gc.collect()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    result = run_backtest(config, SESSIONS[0], SESSIONS[-1], workers=workers_)
    assert result.processes == workers_ and result.fills
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()  # a caller that had it off gets it back off
    try:
        gc.collect()
        run_backtest(config, SESSIONS[0], SESSIONS[-1], workers=workers_)
        assert not gc.isenabled()
        # Each day's cycles were collected at its end: nothing of the days is left to collect
        # (without that, every day's session core, resampler, runners... would be: thousands).
        assert gc.collect() < 100
    finally:
        gc.enable()
    # A day that fails (an unreadable file) ends the run; the collector comes back all the same.
    for past in DAYS:
        if past != MISSING:
            for key in KEYS:
                source = lake.file_path(data_dir, lake.BARS, past, key)
                target = lake.file_path(tmp_path, lake.BARS, past, key)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read_bytes())
    lake.file_path(tmp_path, lake.BARS, SESSIONS[-1], KEYS[0]).write_bytes(b"not parquet")
    broken = SessionConfig.from_params({**params, "data_dir": tmp_path})
    with pytest.raises(StoreError, match="could not read lake file"):
        run_backtest(broken, SESSIONS[0], SESSIONS[-1], workers=workers_)
    assert gc.isenabled() and gc.get_freeze_count() == 0
