"""Every live store written by its own writer class, for the scanner's read-only tests.

One runner, a day of 1m bars, a signal, an order with its fill and position, the day's P&L,
and a run notebook whose parameters the scanner's header reads the loss limit from.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date, timedelta
from pathlib import Path

from pixity.clock import ManualClock
from pixity.domain import (
    Bar,
    Bias,
    DayPnl,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Position,
    RunnerState,
    RunnerStatus,
    Side,
    Signal,
    SignalState,
    SignalType,
)
from pixity.markettime import ist
from pixity.stores import ConfigStore, MarketStore, PaperStore, SignalStore, StorePaths
from pixity.stores.market import IngestState

SYM = "NSE_EQ|INE155A01022"
STRATEGY = "pixityAI_meta"
DAY = date(2025, 6, 2)
T0 = ist(2025, 6, 2, 9, 15)
NOW = ist(2025, 6, 2, 10, 0)


def clock() -> ManualClock:
    """Return a clock standing at 10:00 IST of DAY."""
    return ManualClock(NOW)


def _bars() -> list[Bar]:
    return [
        Bar(
            symbol=SYM,
            ts=T0 + timedelta(minutes=m),
            minutes=1,
            open=100.0 + m / 10,
            high=101.0 + m / 10,
            low=99.5 + m / 10,
            close=100.5 + m / 10,
            volume=100 + m,
            tick_count=3,
            closed=m < 40,
        )
        for m in range(41)
    ]


def _write(stack: ExitStack, paths: StorePaths) -> None:
    state = IngestState(
        session_date=DAY,
        journal_file=f"{DAY}.journal",
        journal_offset=0,
        next_seq=1,
        feed_clock_ms=None,
    )
    stack.enter_context(MarketStore(paths.market)).write_batch([], _bars(), state=state)
    stack.enter_context(ConfigStore(paths.config)).upsert_runner_state(
        RunnerState(
            symbol=SYM,
            strategy_id=STRATEGY,
            timeframe="15m",
            current_bias=Bias.BUY,
            signal_state=SignalState.TRIGGERED,
            last_bar_ts=T0 + timedelta(minutes=30),
            status=RunnerStatus.RUNNING,
            last_error=None,
        )
    )
    stack.enter_context(SignalStore(paths.signals)).save_signal(
        Signal.create(
            strategy_id=STRATEGY,
            symbol=SYM,
            timestamp=T0 + timedelta(minutes=15),
            signal_type=SignalType.BUY,
            confidence=0.7,
        )
    )
    paper = stack.enter_context(PaperStore(paths.paper))
    ts = T0 + timedelta(minutes=31)
    paper.save_order(
        Order(
            order_id="o-1",
            strategy_id=STRATEGY,
            symbol=SYM,
            side=Side.BUY,
            quantity=10,
            order_type=OrderType.MARKET,
            limit_price=None,
            ts=ts,
            status=OrderStatus.FILLED,
            signal_id=None,
            reason="test",
        )
    )
    paper.save_fill(
        Fill(
            fill_id="f-1",
            order_id="o-1",
            symbol=SYM,
            side=Side.BUY,
            quantity=10,
            price=103.0,
            ts=ts,
            costs=1.5,
        )
    )
    paper.upsert_position(
        Position(
            strategy_id=STRATEGY, symbol=SYM, quantity=10, avg_price=103.0, realised_pnl=0.0, ts=ts
        )
    )
    paper.upsert_day_pnl(
        DayPnl(
            session_date=DAY.isoformat(),
            realised=0.0,
            unrealised=4.0,
            costs=1.5,
            killed=False,
            kill_reason=None,
        )
    )


def _write_run(paths: StorePaths) -> None:
    run = paths.runs / DAY.isoformat() / "live_session-sec.ipynb"
    run.parent.mkdir(parents=True, exist_ok=True)
    notebook = {
        "cells": [],
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"papermill": {"parameters": {"max_daily_loss": 5000.0}}},
    }
    run.write_text(json.dumps(notebook), encoding="utf-8")


@contextmanager
def live_stores(data_dir: Path, *, keep_writers_open: bool) -> Iterator[StorePaths]:
    """Write every store under ``data_dir``; with ``keep_writers_open`` hold the writers open.

    Held open, each store's newest rows are still in its WAL, as while the system runs;
    closed, the last writer has checkpointed the WAL into the file, as after a session.
    """
    paths = StorePaths(data_dir)
    _write_run(paths)
    with ExitStack() as stack:
        _write(stack, paths)
        if not keep_writers_open:
            stack.close()
        yield paths
