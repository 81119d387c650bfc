"""``pixity.backtest``: the live session's own core over the history lake, day by day.

Each session day runs exactly as ``pixity live`` runs it: fresh runners warmed on the same
previous days of the lake, the same ``SessionCore`` (1m → 15m bars anchored at 09:15,
strategies behind the closed-bar gate, the same ``PaperBroker`` with the same charges and
risk rules), fed that day's 1m bars. Only the stores differ: a backtest writes nothing, it
keeps its ledger in memory. So a live session's signals and fills are what the backtest of the
bars it saw produces (a parity test checks it); the one difference is that a live session
sees a forming minute's intermediate prices, which can move a mark-to-market kill or a
square-off fill within that minute.

Speed: a day's bars are read into NumPy columns and its 15m bars resampled there; the day
then runs through ``FastDay`` (``pixity.backtest.fast``), which hands ``SessionCore`` and the
broker only the events that can change something, in the order ``SessionCore.apply`` would.
``reference=True`` runs every 1m bar through ``SessionCore.apply`` instead, as a live session
does; a test checks the two agree on every signal, order, fill and equity point. A day whose
lake files hold anything the columns do not take (see ``read_day_bars``) runs the reference
way. Days depend only on the lake, so a long backtest runs stretches of them in worker
processes (``pixity.backtest.workers``) and merges what they did in day order: the same
result as one process.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from pixity.backtest.fast import FastDay
from pixity.backtest.ledger import MemoryLedger, SignalBook
from pixity.backtest.workers import in_processes, process_count, stretches
from pixity.barcolumns import DayBars, Resampled, day_bars, resample_day
from pixity.bars import resample
from pixity.broker.paper import SignalOutcome
from pixity.domain import Bar, Fill, Order, Signal
from pixity.errors import ConfigError
from pixity.frames import bars_from_frame
from pixity.gcfreeze import older_objects_frozen
from pixity.live.config import SessionConfig
from pixity.live.core import (
    CLOSE_GRACE,
    SessionCore,
    make_runners,
    new_broker,
    warm_by_symbol,
    warmup_start,
)
from pixity.live.engine import STOPPED_BEFORE_PRICE
from pixity.markettime import IST, nse_calendar, session_close
from pixity.stores.lake import available_dates, read_bars, read_day_bars

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
    processes: int = 1  # how many processes ran the days


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
    windows are anchored at each day's 09:15), so they are kept per day, each symbol's apart.
    With ``reference``, days are read and resampled as ``Bar`` objects only (the slow way).
    """

    def __init__(self, config: SessionConfig, *, reference: bool = False) -> None:
        self.config = config
        self.reference = reference
        self._days = set(available_dates(config.data_dir))
        self._columns: dict[date, DayBars | None] = {}
        self._1m: dict[date, list[Bar]] = {}
        self._resampled: dict[date, Resampled] = {}
        self._15m_of: dict[date, dict[str, list[Bar]]] = {}

    def columns(self, day: date) -> DayBars | None:
        """Return ``day``'s 1m bars as columns, or None where only ``bars_1m`` takes them."""
        if self.reference:
            return None
        if day not in self._columns:
            if day in self._days:
                found = read_day_bars(self.config.data_dir, self.config.symbols, day)
            else:
                found = day_bars(day, [], [], *_NO_ROWS)
            self._columns[day] = found
        return self._columns[day]

    def bars_1m(self, day: date) -> list[Bar]:
        """Return ``day``'s 1m bars of the config's symbols (none if the lake has no such day)."""
        if day not in self._1m:
            frame = read_bars(self.config.data_dir, self.config.symbols, day, day) if day in self._days else None  # fmt: skip
            self._1m[day] = [] if frame is None else bars_from_frame(frame)
        return self._1m[day]

    def resampled(self, day: date) -> Resampled | None:
        """Return ``day``'s bars of the session's timeframe made from its columns, if it has."""
        if day not in self._resampled:
            columns = self.columns(day)
            if columns is None:
                return None
            self._resampled[day] = resample_day(columns, self.config.timeframe_minutes)
        return self._resampled[day]

    def bars_15m_of(self, day: date) -> dict[str, list[Bar]]:
        """Return ``day``'s bars of the session's timeframe, each symbol's in time order."""
        if day not in self._15m_of:
            resampled = self.resampled(day)
            if resampled is not None:
                bars = resampled.bars
            else:
                bars = resample(self.bars_1m(day), self.config.timeframe_minutes)
            of: dict[str, list[Bar]] = {}
            for bar in bars:  # both are by (symbol, time)
                of.setdefault(bar.symbol, []).append(bar)
            self._15m_of[day] = of
        return self._15m_of[day]

    def forget_before(self, day: date) -> None:
        """Drop what no later day can need (bounded memory over long backtests)."""
        for store in (self._columns, self._1m, self._resampled, self._15m_of):
            for old in [d for d in store if d < day]:
                del store[old]


_NO_ROWS = (
    np.zeros(0, dtype=np.int64),
    (np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)),
    np.zeros(0, dtype=np.int64),
    np.zeros(0, dtype=np.int64),
)


def run_backtest(
    config: SessionConfig,
    start: date,
    end: date,
    *,
    progress: Progress | None = None,
    reference: bool = False,
    workers: int | None = None,
) -> BacktestResult:
    """Backtest ``config``'s strategies on the lake's 1m bars from ``start`` to ``end``.

    ``reference`` runs every 1m bar through ``SessionCore.apply`` (slow; the same result).
    ``workers``: how many processes run the days; None takes the CPUs there are, one per
    ``workers.DAYS_PER_PROCESS`` days at most. Each process runs contiguous stretches of days
    (a day depends only on the lake), and their results are merged in day order: the result
    is the one a single process gives. ``progress(day, done, total)`` is called for every day
    in order (with processes, as each stretch comes back).
    """
    days = session_days(config, start, end)
    processes = process_count(workers, len(days))
    result = BacktestResult(config=config, processes=processes)
    if processes == 1:
        _run_days(config, days, result, reference, progress)
        return result
    done = 0
    parts = stretches(days, processes)
    tasks = [(config, part, reference) for part in parts]
    nse_calendar()  # built once here (it takes a moment), not again in every forked worker
    results = in_processes(_run_stretch, tasks, processes)
    # The results are unpickled here while the workers run: without cycles to find, the
    # collector would only walk them (and all else) again and again.
    with _gc_skips_older_objects():
        try:
            for part, stretch in zip(parts, results, strict=True):
                _merge(result, stretch)
                for day in part:
                    done += 1
                    if progress is not None:
                        progress(day, done, len(days))
        finally:
            results.close()  # whatever stopped the loop, the processes stop now, not at gc
    return result


def _run_days(
    config: SessionConfig,
    days: list[date],
    result: BacktestResult,
    reference: bool,
    progress: Progress | None = None,
) -> None:
    history = History(config, reference=reference)
    with _gc_skips_older_objects():
        for i, day in enumerate(days):
            result.days.append(run_day(config, day, history, result))
            _collect_the_day()
            if progress is not None:
                progress(day, i + 1, len(days))


def _run_stretch(task: tuple[SessionConfig, list[date], bool]) -> BacktestResult:
    """Run a stretch of days in a worker process."""
    config, days, reference = task
    result = BacktestResult(config=config)
    _run_days(config, days, result, reference)
    return result


def _merge(result: BacktestResult, stretch: BacktestResult) -> None:
    """Add a stretch's days to ``result`` as running them after its days would have.

    A signal's id holds its bar's time, so no two days share one, and every signal is
    settled on its day (a session cancels what is open when it stops).
    """
    result.days.extend(stretch.days)
    result.signals.signals.update(stretch.signals.signals)
    result.signals.status.update(stretch.signals.status)
    result.fills.extend(stretch.fills)
    result.orders.update(stretch.orders)
    result.strategy_errors += stretch.strategy_errors


@contextmanager
def _gc_skips_older_objects() -> Iterator[None]:
    """Keep the cyclic garbage collector off the objects alive before the run, and off during
    each day; ``_collect_the_day`` collects what a day left.

    A long backtest makes millions of short-lived objects. Left to itself the collector runs
    every few hundred allocations, and its full passes walk every object of the process again
    (with the strategies' libraries, over 150,000, and the results so far): together about a
    tenth of the run. ``gc.freeze`` exempts the objects alive before the run until
    ``gc.unfreeze``; the collector is paused while the run goes on (as a whole day's work is
    done between two of its passes), and both are put back as they were at the end, whatever
    ends the run. Nothing is freed differently, only later: reference counting frees as ever,
    and the cycles a day makes (a session core and its resampler) go at the end of the day.
    If someone else has frozen objects, their freeze is left as it is.
    """
    was_enabled = gc.isenabled()
    with older_objects_frozen():
        gc.disable()
        try:
            yield
        finally:
            if was_enabled:
                gc.enable()


def _collect_the_day() -> None:
    """Collect the cycles the day left, among the objects made since the last collection
    (the generations of young objects: what survives is older and not looked at again)."""
    gc.collect(1)


def run_day(config: SessionConfig, day: date, history: History, result: BacktestResult) -> DayResult:  # fmt: skip
    """Run one session day as a live session would, and add what it did to ``result``."""
    runners = make_runners(config)
    first = warmup_start(runners, day, config.warmup_days)
    history.forget_before(first)
    past = nse_calendar().trading_days(first, day - timedelta(days=1))
    warm_by_symbol(runners, [history.bars_15m_of(d) for d in past])
    ledger = MemoryLedger()
    book = result.signals

    def on_outcome(outcome: SignalOutcome) -> None:
        book.settle(outcome.signal_id, outcome.status, outcome.reason)

    fast: FastDay | None = None

    def on_signal(signal: Signal) -> None:
        book.save(signal)
        if fast is not None:
            fast.before_submit(signal.symbol)  # the core submits it next

    broker = new_broker(config, ledger, day, on_outcome)
    end = session_close(day) if config.until is None else datetime.combine(day, config.until, IST)
    core = SessionCore(config, runners, broker, day, on_signal=on_signal, on_state=None, end=end)
    columns = history.columns(day)
    if columns is None:
        core.apply(history.bars_1m(day), end + CLOSE_GRACE)
    else:
        fast = FastDay(core, columns, end, history.resampled(day))
        fast.run()
        fast = None  # the core outlives the day (a cycle with its resampler): let the day go
    broker.cancel_open(STOPPED_BEFORE_PRICE)  # as a live session does when it stops
    result.fills.extend(sorted(ledger.fills.values(), key=lambda f: (f.ts, f.fill_id)))
    result.orders.update(ledger.orders)
    result.strategy_errors += core.counts.strategy_errors
    pnl = broker.day_pnl
    return DayResult(
        day=day, bars_1m=core.counts.bars_1m, equity=core.counts.equity, realised=pnl.realised,
        unrealised=pnl.unrealised, costs=pnl.costs, killed=pnl.killed,
    )  # fmt: skip
