"""The live engine over a real live buffer: 15m bars, signals with bar_ts, runner state, restart."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from live_support import (
    DAY,
    KEYS,
    FakeIngest,
    FakeTime,
    config,
    sample_bars,
    seed_history,
)

from pixity.domain import Bar, Bias, Signal, SignalState, SignalType
from pixity.errors import StoreMissingError
from pixity.live.engine import LiveEngine
from pixity.live.stores import SessionStores
from pixity.markettime import IST, format_ts
from pixity.strategies import Decision, register

OPEN = datetime.combine(DAY, datetime.min.time(), IST).replace(hour=9, minute=15)
GRID = {(OPEN + timedelta(minutes=15 * i)).strftime("%H:%M") for i in range(25)}


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return OPEN.replace(hour=hh, minute=mm, second=ss)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    seed_history(tmp_path)
    return tmp_path


def engine_for(data_dir: Path, clock: FakeTime | None = None, **overrides: object) -> LiveEngine:
    params = {"strategy_params": {"ref_ema_cross": {"min_confidence": 0.0}}} | overrides
    clock = clock or FakeTime()
    return LiveEngine(
        config(data_dir, **params),
        SessionStores(data_dir),
        monotonic=clock.monotonic,
        sleep=clock.sleep,
    )


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def drive(engine: LiveEngine, ingest: FakeIngest, until: datetime, step_s: int = 20) -> None:
    clock = at(9, 15)
    while clock <= until:
        ingest.commit_until(clock)
        engine.step()
        clock += timedelta(seconds=step_s)


def test_signals_carry_their_15m_bar_and_runner_state_follows(data_dir: Path) -> None:
    ingest = FakeIngest(data_dir, sample_bars())
    ingest.commit_until(at(9, 15))
    engine = engine_for(data_dir)
    engine.start()
    drive(engine, ingest, at(12, 1))
    engine.finish("finished")
    signals = rows(data_dir / "signals/signals.db", "SELECT bar_ts, symbol, status FROM signals")
    assert signals, "the reference strategy fires on this market"
    for bar_ts, symbol, status in signals:
        assert isinstance(bar_ts, str) and bar_ts.endswith("+05:30") and bar_ts[11:16] in GRID
        assert symbol in KEYS and status in ("FILLED", "REJECTED", "PENDING")
    states = rows(
        data_dir / "config/config.db",
        "SELECT symbol, timeframe, last_bar_ts, status FROM runner_state",
    )
    assert sorted(s[0] for s in states) == sorted(KEYS)
    for _, timeframe, last_bar_ts, status in states:
        assert timeframe == "15m" and status == "STOPPED"
        assert last_bar_ts == format_ts(at(11, 45))  # the last 15m bar that closed by 12:00
    assert engine.counts.bars_15m == 2 * 11  # 09:15 .. 11:45


def test_a_forming_bar_never_reaches_a_strategy(data_dir: Path) -> None:
    seen: list[Bar] = []

    class Recorder:
        def on_bar(self, bar: Bar) -> Decision:
            seen.append(bar)
            return Decision(bias=Bias.NEUTRAL, state=SignalState.IDLE)

    class Spec:
        strategy_id = "test_recorder"
        timeframe_minutes = 15
        warmup_bars = 1

        def create(self, symbol: str) -> Recorder:
            return Recorder()

    register("test_recorder", lambda params: Spec())
    ingest = FakeIngest(data_dir, sample_bars())
    ingest.commit_until(at(9, 15))
    engine = engine_for(data_dir, strategies=("test_recorder",), strategy_params={})
    engine.start()
    warm = len(seen)
    clock = at(9, 15)
    while clock <= at(10, 10):
        ingest.commit_until(clock)  # the forming 1m bar is in market.db at every step
        engine.step()
        live = seen[warm:]
        assert all(b.closed and b.minutes == 15 for b in live)
        assert all(b.ts + timedelta(minutes=15) <= clock for b in live)  # only finished windows
        clock += timedelta(seconds=30)
    assert [b.ts for b in seen[warm:] if b.symbol == KEYS[0]] == [at(9, 15), at(9, 30), at(9, 45)]


def test_a_failing_strategy_is_marked_error_and_the_others_go_on(data_dir: Path) -> None:
    class Boom:
        def on_bar(self, bar: Bar) -> Decision:
            if bar.ts.date() == DAY and bar.symbol == KEYS[0]:
                raise RuntimeError("division by zero in my feature")
            return Decision(bias=Bias.NEUTRAL, state=SignalState.IDLE)

    class Spec:
        strategy_id = "test_boom"
        timeframe_minutes = 15
        warmup_bars = 1

        def create(self, symbol: str) -> Boom:
            return Boom()

    register("test_boom", lambda params: Spec())
    ingest = FakeIngest(data_dir, sample_bars())
    ingest.commit_until(at(9, 15))
    engine = engine_for(data_dir, strategies=("test_boom", "ref_ema_cross"))
    engine.start()
    drive(engine, ingest, at(10, 1))
    engine.finish("finished")
    states = {
        (s, k): (status, err)
        for s, k, status, err in rows(
            data_dir / "config/config.db",
            "SELECT symbol, strategy_id, status, last_error FROM runner_state",
        )
    }
    status, error = states[(KEYS[0], "test_boom")]
    assert status == "ERROR" and "division by zero" in str(error)
    assert states[(KEYS[1], "test_boom")][0] == "STOPPED"
    assert states[(KEYS[0], "ref_ema_cross")][0] == "STOPPED"
    assert engine.counts.strategy_errors >= 1


def test_stale_when_the_live_buffer_stops_changing_then_running_again(data_dir: Path) -> None:
    clock = FakeTime()
    ingest = FakeIngest(data_dir, sample_bars())
    ingest.commit_until(at(9, 15))
    engine = engine_for(data_dir, clock)
    engine.start()
    drive(engine, ingest, at(9, 40))
    clock.now += engine.config.stale_after_s + 1
    engine.step()  # nothing committed: quiet for longer than the bound
    stale = rows(data_dir / "config/config.db", "SELECT status, last_error FROM runner_state")
    assert {s for s, _ in stale} == {"STALE"}
    assert all("pixity ingest" in str(e) for _, e in stale)
    ingest.commit_until(at(9, 41))
    engine.step()
    assert {
        s for (s,) in rows(data_dir / "config/config.db", "SELECT status FROM runner_state")
    } == {"RUNNING"}


def test_until_stops_after_the_bar_that_closes_then(data_dir: Path) -> None:
    clock = FakeTime()
    ingest = FakeIngest(data_dir, sample_bars())
    ingest.commit_until(at(9, 15))
    engine = engine_for(data_dir, clock, until="10:00")
    engine.start()
    feed = at(9, 15)
    while not engine.done and feed < at(11, 0):
        ingest.commit_until(feed)
        engine.step()
        feed += timedelta(seconds=20)
    assert engine.done and "10:00" in str(engine.stop_reason)
    assert feed <= at(10, 1)
    assert all(r.state.last_bar_ts == at(9, 45) for r in engine.runners)


def test_waiting_for_a_live_buffer_is_bounded(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, wait_for_feed_s=3.0)
    with pytest.raises(StoreMissingError, match="pixity ingest"):
        engine.start()
    states = rows(tmp_path / "config/config.db", "SELECT status, last_error FROM runner_state")
    assert {s for s, _ in states} == {"STARTING"}


def snapshot(data_dir: Path) -> dict[str, list[tuple[object, ...]]]:
    return {
        "signals": rows(data_dir / "signals/signals.db", "SELECT signal_id, bar_ts, status FROM signals ORDER BY signal_id"),
        "orders": rows(data_dir / "paper/paper.db", "SELECT order_id, status FROM orders ORDER BY order_id"),
        "fills": rows(data_dir / "paper/paper.db", "SELECT fill_id, price, quantity FROM fills ORDER BY fill_id"),
        "positions": rows(data_dir / "paper/paper.db", "SELECT symbol, quantity, avg_price, realised_pnl FROM positions ORDER BY symbol"),
        "pnl": rows(data_dir / "paper/paper.db", "SELECT realised, costs, killed FROM daily_pnl"),
    }  # fmt: skip


def run_whole(data_dir: Path, stops: list[datetime]) -> dict[str, list[tuple[object, ...]]]:
    """Run the day to 13:00, abandoning the engine (as kill -9 would) at each of ``stops``."""
    ingest = FakeIngest(data_dir, sample_bars())
    feed = at(9, 15)
    ingest.commit_until(feed)
    engine = engine_for(data_dir)
    engine.start()
    pending = list(stops)
    while feed <= at(13, 0):
        ingest.commit_until(feed)
        engine.step()
        if pending and feed >= pending[0]:
            pending.pop(0)
            engine.stores.close()  # no finish(): the process just died
            engine = engine_for(data_dir)
            engine.start()
        feed += timedelta(seconds=20)
    engine.finish("finished")
    engine.stores.close()
    ingest.close()
    return snapshot(data_dir)


def test_a_restart_resumes_without_duplicates_and_matches_an_unbroken_run(tmp_path: Path) -> None:
    one, two = tmp_path / "unbroken", tmp_path / "restarted"
    for d in (one, two):
        seed_history(d)
    unbroken = run_whole(one, [])
    restarted = run_whole(two, [at(10, 7), at(11, 30, 20), at(11, 31)])
    assert unbroken["signals"] and unbroken["fills"]
    assert restarted == unbroken


def test_a_restart_records_the_outcome_a_crash_kept_from_signals_db(data_dir: Path) -> None:
    """Killed after a fill's writes to paper.db, before its signal's status in signals.db."""
    ingest = FakeIngest(data_dir, sample_bars())
    engine = engine_for(data_dir)
    ingest.commit_until(at(9, 15))
    engine.start()
    drive(engine, ingest, at(13, 0))
    engine.stores.close()  # no finish(): the process just died
    signals = data_dir / "signals/signals.db"
    settled = "SELECT signal_id, status, status_reason FROM signals WHERE status != 'PENDING'"
    told = rows(signals, settled)
    assert any(status == "FILLED" for _, status, _ in told)
    with sqlite3.connect(signals) as conn:  # as the crash left it
        conn.execute("UPDATE signals SET status = 'PENDING', status_reason = NULL")
    again = engine_for(data_dir)
    again.start()
    again.stores.close()
    ingest.close()
    assert rows(signals, settled) == told


@pytest.fixture(autouse=True)
def _no_leaked_registrations() -> Iterator[None]:
    yield
    from pixity.strategies import base

    for name in ("test_recorder", "test_boom", "test_every"):
        base._REGISTRY.pop(name, None)


def test_a_session_started_after_until_acts_on_nothing_past_it(data_dir: Path) -> None:
    ingest = FakeIngest(data_dir, sample_bars())
    ingest.commit_until(at(13, 0))  # the day is already far past --until when it starts
    engine = engine_for(data_dir, until="10:00")
    engine.start()
    engine.step()
    assert engine.done and "10:00" in str(engine.stop_reason)
    assert all(r.state.last_bar_ts == at(9, 45) for r in engine.runners)
    late = rows(data_dir / "signals/signals.db", "SELECT bar_ts FROM signals WHERE bar_ts >= '2025-06-03 10:00'")  # fmt: skip
    assert late == []
    orders = rows(data_dir / "paper/paper.db", "SELECT ts FROM orders WHERE ts > '2025-06-03 10:00:00+05:30'")  # fmt: skip
    assert orders == []


def test_a_session_gives_up_when_the_live_buffer_stays_unchanged(data_dir: Path) -> None:
    clock = FakeTime()
    ingest = FakeIngest(data_dir, sample_bars())
    ingest.commit_until(at(9, 15))
    engine = engine_for(data_dir, clock, give_up_after_s=600.0)
    engine.start()
    drive(engine, ingest, at(9, 40))
    clock.now += 601
    engine.step()
    assert engine.done and "gave up" in str(engine.stop_reason)
    states = rows(data_dir / "config/config.db", "SELECT status, last_error FROM runner_state")
    assert {s for s, _ in states} == {"ERROR"} and all("pixity ingest" in str(e) for _, e in states)
    [(status, reason)] = rows(data_dir / "config/config.db", "SELECT status, stop_reason FROM session_status")  # fmt: skip
    assert status == "ERROR" and "gave up" in str(reason)


def test_no_order_stays_open_and_no_signal_pending_after_a_stop(data_dir: Path) -> None:
    # Without trades in the minutes before --until, the last 15m bar closes by the clock, after
    # the last price: its orders can never fill. The stop cancels them and says why.
    class EveryBar:
        def __init__(self, symbol: str) -> None:
            self.symbol, self.n = symbol, 0

        def on_bar(self, bar: Bar) -> Decision:
            self.n += 1
            kind = SignalType.BUY if self.n % 2 else SignalType.SELL
            signal = Signal.create(strategy_id="test_every", symbol=self.symbol,
                                   timestamp=bar.ts, signal_type=kind, confidence=0.5)  # fmt: skip
            return Decision(bias=Bias.BUY, state=SignalState.TRIGGERED, signals=(signal,))

    class Spec:
        strategy_id = "test_every"
        timeframe_minutes = 15
        warmup_bars = 1

        def create(self, symbol: str) -> EveryBar:
            return EveryBar(symbol)

    register("test_every", lambda params: Spec())
    bars = [b for b in sample_bars() if not at(11, 55) <= b.ts < at(12, 0)]
    clock = FakeTime()
    ingest = FakeIngest(data_dir, bars)
    ingest.commit_until(at(9, 15))
    engine = engine_for(
        data_dir, clock, until="12:00", strategies=("test_every",), strategy_params={}
    )
    engine.start()
    feed = at(9, 15)
    while not engine.done:
        feed += timedelta(seconds=20)
        ingest.commit_until(feed)
        engine.step()
    engine.finish(engine.stop_reason or "finished")
    paper, signals = data_dir / "paper/paper.db", data_dir / "signals/signals.db"
    assert rows(paper, "SELECT COUNT(*) FROM orders WHERE status = 'OPEN'") == [(0,)]
    assert rows(signals, "SELECT COUNT(*) FROM signals WHERE status = 'PENDING'") == [(0,)]
    last = rows(signals, "SELECT status, status_reason FROM signals WHERE bar_ts = '2025-06-03 11:45:00+05:30'")  # fmt: skip
    assert last and all(
        s == "REJECTED" and "stopped before the next price" in str(r) for s, r in last
    )


def test_a_runner_with_too_little_history_says_it_is_warming_up(tmp_path: Path) -> None:
    # No history lake at all: the strategy starts cold, and runner_state says so while RUNNING.
    ingest = FakeIngest(tmp_path, sample_bars())
    ingest.commit_until(at(9, 15))
    engine = engine_for(tmp_path)
    engine.start()
    drive(engine, ingest, at(10, 1))
    states = rows(tmp_path / "config/config.db", "SELECT status, last_error FROM runner_state")
    assert {s for s, _ in states} == {"RUNNING"}
    need = engine.runners[0].spec.warmup_bars
    for _, error in states:
        assert str(error).startswith(f"warming up: started with 0 of the {need} history bars")
        assert "(3 so far)" in str(error)  # 09:15, 09:30, 09:45 seen
    engine.finish("finished")


def test_a_warmed_runner_has_no_warm_up_note(data_dir: Path) -> None:
    ingest = FakeIngest(data_dir, sample_bars())
    ingest.commit_until(at(9, 15))
    engine = engine_for(data_dir)
    engine.start()
    drive(engine, ingest, at(10, 1))
    assert all(r.warmed >= r.spec.warmup_bars for r in engine.runners)
    states = rows(data_dir / "config/config.db", "SELECT status, last_error FROM runner_state")
    assert states and all(s == "RUNNING" and e is None for s, e in states)
    engine.finish("finished")


def test_session_status_counts_late_bars_and_keeps_them_over_a_restart(data_dir: Path) -> None:
    # The first symbol's bars stop coming at 09:29 (say its ticks were held up) while the
    # other's go on: the 09:15 bar closes by the clock without its last minute.
    bars = sample_bars()
    held = [b for b in bars if b.symbol == KEYS[0] and b.ts >= at(9, 29)]
    ingest = FakeIngest(data_dir, [b for b in bars if b not in held])
    ingest.commit_until(at(9, 15))
    engine = engine_for(data_dir)
    engine.start()
    sql = "SELECT session_date, run_id, status, stop_reason, bars_15m, late_bars FROM session_status"  # fmt: skip
    assert rows(data_dir / "config/config.db", sql) == [(DAY.isoformat(), "test", "RUNNING", None, 0, 0)]  # fmt: skip
    drive(engine, ingest, at(9, 40))
    ingest.bars = sorted(bars, key=lambda b: (b.ts, b.symbol))
    ingest.commit_until(at(9, 40, 30))
    engine.step()
    assert engine.counts.late_bars == 1
    engine.finish("finished")
    [(_, _, status, reason, bars_15m, late_bars)] = rows(data_dir / "config/config.db", sql)
    assert (status, reason, bars_15m, late_bars) == ("STOPPED", "finished", 2, 1)
    # A restart replays the day with every bar in time: the day's late bar is still counted.
    again = engine_for(data_dir)
    again.start()
    drive(again, ingest, at(9, 50))
    again.finish("finished")
    assert again.counts.late_bars == 0
    assert rows(data_dir / "config/config.db", sql)[0][2:] == ("STOPPED", "finished", 4, 1)
