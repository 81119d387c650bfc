"""``pixity.backtest``: the live session's own core over the history lake, day by day.

Each session day runs exactly as ``pixity live`` runs it: fresh runners warmed on the same
previous days of the lake, the same ``SessionCore`` (1m → 15m bars anchored at 09:15,
strategies behind the closed-bar gate, the same ``PaperBroker`` with the same charges and
risk rules), fed that day's 1m bars. Only the stores differ: a backtest writes nothing, it
keeps its ledger in memory. So a live session's signals and fills are what the backtest of the
bars it saw produces (a parity test checks it); the one difference is that a live session
sees a forming minute's intermediate prices, which can move a mark-to-market kill or a
square-off fill within that minute.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from pixity.backtest.ledger import MemoryLedger, SignalBook
from pixity.bars import resample
from pixity.broker.paper import SignalOutcome
from pixity.domain import Bar, Fill, Order
from pixity.errors import ConfigError
from pixity.frames import bars_from_frame
from pixity.live.config import SessionConfig
from pixity.live.core import (
    CLOSE_GRACE,
    SessionCore,
    make_runners,
    new_broker,
    warm_resampled,
    warmup_start,
)
from pixity.live.engine import STOPPED_BEFORE_PRICE
from pixity.markettime import IST, nse_calendar, session_close
from pixity.stores.lake import available_dates, read_bars

log = logging.getLogger(__name__)

Progress = Callable[[date, int, int], None]


@dataclass(slots=True)
class DayResult:
    """One session day of a backtest."""

    day: date
    bars_1m: int
    equity: list[tuple[datetime, float, float, float]]
    realised: float
    unrealised: float
    costs: float
    killed: bool


@dataclass(slots=True)
class BacktestResult:
    """Everything a backtest did, for the report."""

    config: SessionConfig
    days: list[DayResult] = field(default_factory=list)
    signals: SignalBook = field(default_factory=SignalBook)
    fills: list[Fill] = field(default_factory=list)
    orders: dict[str, Order] = field(default_factory=dict)
    strategy_errors: int = 0


def session_days(config: SessionConfig, start: date, end: date) -> list[date]:
    """Return the lake's days from ``start`` to ``end`` (both included)."""
    if end < start:
        raise ConfigError(f"--to {end} is before --from {start}")
    days = [d for d in available_dates(config.data_dir) if start <= d <= end]
    if not days:
        raise ConfigError(
            f"no 1m bars in the history lake ({config.data_dir}/history) from {start} to {end}: "
            "`pixity history import`, `fetch` or `sample` first"
        )
    return days


class History:
    """The lake's bars by day, read once: each day is its own bars and later days' warm-up.

    A day's 15m bars are the same whether it is resampled alone or with its neighbours (the
    windows are anchored at each day's 09:15), so they are kept per day.
    """

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self._days = set(available_dates(config.data_dir))
        self._1m: dict[date, list[Bar]] = {}
        self._15m: dict[date, list[Bar]] = {}

    def bars_1m(self, day: date) -> list[Bar]:
        """Return ``day``'s 1m bars of the config's symbols (none if the lake has no such day)."""
        if day not in self._1m:
            frame = read_bars(self.config.data_dir, self.config.symbols, day, day) if day in self._days else None  # fmt: skip
            self._1m[day] = [] if frame is None else bars_from_frame(frame)
        return self._1m[day]

    def bars_15m(self, day: date) -> list[Bar]:
        """Return ``day``'s bars of the session's timeframe."""
        if day not in self._15m:
            self._15m[day] = resample(self.bars_1m(day), self.config.timeframe_minutes)
        return self._15m[day]

    def forget_before(self, day: date) -> None:
        """Drop what no later day can need (bounded memory over long backtests)."""
        for store in (self._1m, self._15m):
            for old in [d for d in store if d < day]:
                del store[old]


def run_backtest(
    config: SessionConfig, start: date, end: date, *, progress: Progress | None = None
) -> BacktestResult:
    """Backtest ``config``'s strategies on the lake's 1m bars from ``start`` to ``end``."""
    result = BacktestResult(config=config)
    days = session_days(config, start, end)
    history = History(config)
    for i, day in enumerate(days):
        result.days.append(run_day(config, day, history, result))
        if progress is not None:
            progress(day, i + 1, len(days))
    return result


def run_day(config: SessionConfig, day: date, history: History, result: BacktestResult) -> DayResult:  # fmt: skip
    """Run one session day as a live session would, and add what it did to ``result``."""
    runners = make_runners(config)
    first = warmup_start(runners, day, config.warmup_days)
    history.forget_before(first)
    for past in nse_calendar().trading_days(first, day - timedelta(days=1)):
        warm_resampled(runners, history.bars_15m(past))
    bars = history.bars_1m(day)
    ledger = MemoryLedger()
    book = result.signals

    def on_outcome(outcome: SignalOutcome) -> None:
        book.settle(outcome.signal_id, outcome.status, outcome.reason)

    broker = new_broker(config, ledger, day, on_outcome)
    end = session_close(day) if config.until is None else datetime.combine(day, config.until, IST)
    core = SessionCore(
        config, runners, broker, day, on_signal=book.save, on_state=lambda _s: None, end=end
    )
    core.apply(bars, end + CLOSE_GRACE)
    broker.cancel_open(STOPPED_BEFORE_PRICE)  # as a live session does when it stops
    result.fills.extend(sorted(ledger.fills.values(), key=lambda f: (f.ts, f.fill_id)))
    result.orders.update(ledger.orders)
    result.strategy_errors += core.counts.strategy_errors
    pnl = broker.day_pnl
    return DayResult(
        day=day, bars_1m=core.counts.bars_1m, equity=core.counts.equity, realised=pnl.realised,
        unrealised=pnl.unrealised, costs=pnl.costs, killed=pnl.killed,
    )  # fmt: skip
