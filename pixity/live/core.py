"""The session core: 1m bars in → 15m bars → strategies → paper broker, driven by bars alone.

The live engine feeds it what it reads from the live buffer, poll by poll; the backtest feeds
it the history lake's bars, a day at a time. Both go through this one path, so what a trader
backtests is what runs live. Nothing here does I/O: signals and runner states go to the sinks
it is given, the broker writes through its ledger.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from pixity.bars import BarResampler, TickOutcome, resample
from pixity.broker.config import BrokerConfig
from pixity.broker.paper import PaperBroker, PaperLedger, SignalOutcome
from pixity.clock import ManualClock
from pixity.domain import Bar, RunnerState, Signal
from pixity.live.config import SessionConfig
from pixity.live.runner import Runner
from pixity.markettime import bar_end, nse_calendar, session_open
from pixity.strategies import get_strategy

log = logging.getLogger(__name__)

# The ingest closes a 1m bar once its feed clock is 2 s past the bar's end (IngestConfig.grace)
# and commits the clock with the bars it closed; so once the committed clock is 3 s past a
# 15m bar's end, every 1m bar of it that will ever exist is in the live buffer.
CLOSE_GRACE = timedelta(seconds=3)
_MINUTE = timedelta(minutes=1)
_LAST_MS = timedelta(milliseconds=1)

SignalSink = Callable[[Signal], None]
StateSink = Callable[[RunnerState], None]
OutcomeSink = Callable[[SignalOutcome], None]


@dataclass(slots=True)
class EngineCounts:
    """What the core counted; shown in the report."""

    bars_1m: int = 0
    bars_15m: int = 0
    late_bars: int = 0
    signals: int = 0
    strategy_errors: int = 0
    polls: int = 0
    equity: list[tuple[datetime, float, float, float]] = field(default_factory=list)


def make_runners(config: SessionConfig) -> list[Runner]:
    """Return a fresh runner per (symbol, strategy) of ``config``."""
    specs = [get_strategy(s, config.strategy_params.get(s)) for s in config.strategies]
    return [Runner(spec, symbol, config.timeframe) for symbol in config.symbols for spec in specs]


def broker_config(config: SessionConfig) -> BrokerConfig:
    """Return the paper broker's config from the session's."""
    return BrokerConfig.from_mapping(
        {
            "max_capital": config.max_capital,
            "max_daily_loss": config.max_daily_loss,
            "per_trade_capital": config.per_trade_capital,
            "slippage_bps": config.slippage_bps,
            "entry_cutoff": config.entry_cutoff.strftime("%H:%M"),
            "square_off": config.square_off.strftime("%H:%M"),
            "rates": dict(config.costs),
        }
    )


def warmup_start(runners: Sequence[Runner], day: date, warmup_days: int) -> date:
    """Return the first day of history the runners need before ``day`` (25 bars a day)."""
    need = max(r.spec.warmup_bars for r in runners)
    days_back = max(warmup_days, -(-need // 25) + 1)
    calendar, first = nse_calendar(), day
    for _ in range(days_back):
        first = calendar.previous_trading_day(first)
    return first


def warm(runners: Sequence[Runner], bars_1m: Iterable[Bar], minutes: int) -> int:
    """Feed the runners the ``minutes`` bars of history 1m bars; return how many."""
    return warm_resampled(runners, resample(bars_1m, minutes))


def warm_resampled(runners: Sequence[Runner], bars: Sequence[Bar]) -> int:
    """Feed the runners history bars already of their length, in time order; return how many."""
    return warm_in_order(runners, sorted(bars, key=lambda b: (b.ts, b.symbol)))


def warm_in_order(runners: Sequence[Runner], bars: Iterable[Bar]) -> int:
    """Feed the runners history bars of their length already sorted by (time, symbol)."""
    of_symbol: dict[str, list[Bar]] = {}
    fed = 0
    for bar in bars:
        fed += 1
        of_symbol.setdefault(bar.symbol, []).append(bar)
    warm_by_symbol(runners, [of_symbol])
    return fed


def warm_by_symbol(runners: Sequence[Runner], parts: Sequence[Mapping[str, Sequence[Bar]]]) -> None:
    """Feed each runner its symbol's history bars: those of ``parts[0]``, then ``parts[1]``...

    Each part maps a symbol to its bars in time order (a backtest keeps one per day). A runner
    sees only its symbol's bars, so feeding one runner all of its bars, then the next, leaves
    them as feeding every runner bar by bar in time order does.
    """
    for runner in runners:
        symbol = runner.symbol
        runs = [part[symbol] for part in parts if symbol in part]
        if len(runs) == 1:
            runner.warm_bars(runs[0])
        elif runs:
            runner.warm_bars(itertools.chain.from_iterable(runs))


def runners_by_symbol(runners: Sequence[Runner]) -> dict[str, list[Runner]]:
    """Return each symbol's runners, in the order given."""
    of: dict[str, list[Runner]] = {}
    for runner in runners:
        of.setdefault(runner.symbol, []).append(runner)
    return of


class SessionCore:
    """One session day's bar-driven logic, fed bars in time order."""

    def __init__(
        self,
        config: SessionConfig,
        runners: Sequence[Runner],
        broker: PaperBroker,
        day: date,
        *,
        on_signal: SignalSink,
        on_state: StateSink | None,
        end: datetime | None = None,
    ) -> None:
        self.config = config
        # The session's end (``--until``, else the close): no bar at or after it is acted on,
        # but the one opening at it is seen as it starts (its open only), so an order placed
        # on the last 15m close fills at that open; the clock stops at end + grace.
        self.end = end
        self.runners = list(runners)
        self.broker = broker
        self.day = day
        self._on_signal = on_signal
        # ``on_state`` None: nobody keeps the runners' states (a backtest), so the core does
        # not ask for them (``Runner.state`` is built when asked for).
        self._on_state = on_state
        self.counts = EngineCounts()
        self.feed_clock = ManualClock(session_open(day) - timedelta(minutes=15))
        self._runners_of = runners_by_symbol(self.runners)
        self._closes_at: dict[tuple[datetime, int], datetime] = {}  # bar -> its close, 25 a day
        self._resampler = BarResampler(
            minutes=config.timeframe_minutes,
            on_bar=self.on_bar_15m,
            clock=self.feed_clock,
            grace=CLOSE_GRACE,
        )
        self._fed: dict[str, tuple[datetime, float]] = {}  # last price event per symbol
        self.last_bar_end: dict[str, datetime] = {}

    def apply(self, bars: Iterable[Bar], feed_now: datetime | None) -> None:
        """Take 1m bars (closed, or forming with their latest values) and the feed clock."""
        if self.end is not None:
            bars = _before(bars, self.end)
            if feed_now is not None:
                feed_now = min(feed_now, self.end + CLOSE_GRACE)
        for bar in sorted(bars, key=lambda b: (b.ts, b.symbol)):
            self._prices(bar)
            if bar.closed:
                self.counts.bars_1m += 1
                self.last_bar_end[bar.symbol] = bar.ts + _MINUTE
                if self._resampler.on_bar(bar) is not TickOutcome.ACCEPTED:
                    self.counts.late_bars += 1
                    log.warning("1m bar %s %s came after its 15m bar closed", bar.symbol, bar.ts)
            self.broker.on_time(bar.ts)
        if feed_now is not None and feed_now > self.feed_clock.now():
            self.feed_clock.set(feed_now)
        self._resampler.on_time()
        self.broker.on_time(self.feed_clock.now())

    def _prices(self, bar: Bar) -> None:
        """Show the broker the prices a 1m bar carries: its open, then its latest close."""
        last = self._fed.get(bar.symbol)
        if last is None or last[0] < bar.ts:
            self.broker.on_price(bar.symbol, bar.open, bar.ts)
        seen = bar_end(bar.ts) - _LAST_MS
        if not bar.closed:
            seen = min(seen, max(bar.ts, self.feed_clock.now()))
        if last is None or (seen, bar.close) != last:
            self.broker.on_price(bar.symbol, bar.close, seen)
            self._fed[bar.symbol] = (seen, bar.close)

    def on_bar_15m(self, bar: Bar) -> None:
        """Act on a closed bar of the session's length: strategies, signals, the equity curve."""
        self.counts.bars_15m += 1
        closes_at = self._closes_at.get((bar.ts, bar.minutes))
        if closes_at is None:
            closes_at = self._closes_at[bar.ts, bar.minutes] = bar_end(bar.ts, bar.minutes)
        for runner in self._runners_of.get(bar.symbol, ()):
            outcome = runner.on_bar(bar)
            if outcome.failed:
                self.counts.strategy_errors += 1
            for signal in outcome.signals:
                self.counts.signals += 1
                self._on_signal(signal)
                self.broker.submit(signal, closes_at)
            if self._on_state is not None:
                self._on_state(runner.state)
        self.counts.equity.append((closes_at, *self.broker.equity_point()))


def _before(bars: Iterable[Bar], end: datetime) -> list[Bar]:
    """Return the bars a session ending at ``end`` acts on: those before it, and the open of
    the one opening at it."""
    seen = []
    for bar in bars:
        if bar.ts < end:
            seen.append(bar)
        elif bar.ts == end:
            seen.append(replace(bar, high=bar.open, low=bar.open, close=bar.open, closed=False))
    return seen


def new_broker(config: SessionConfig, ledger: PaperLedger, day: date, on_outcome: OutcomeSink) -> PaperBroker:  # fmt: skip
    """Return the session's paper broker for ``day``."""
    return PaperBroker(broker_config(config), ledger, session_date=day, on_outcome=on_outcome)
