"""The live engine: follow 1m bars, resample to 15m, run the strategies, trade paper, record.

One ``step`` is one look at the live buffer. Everything that happens is driven by the bars and
the ingest's feed clock (never the machine's clock), so a session replayed from the same bars
makes the same signals, orders and fills; that is also how a restart resumes: it replays the
day so far, and the stores' idempotent writes (deterministic ids) keep every row single.
Wall-clock time is used only to notice that the live buffer stopped changing.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from pixity.bars import BarResampler, TickOutcome, resample
from pixity.broker.config import BrokerConfig
from pixity.broker.paper import PaperBroker, SignalOutcome
from pixity.clock import ManualClock
from pixity.domain import Bar, RunnerStatus, SignalStatus
from pixity.errors import StoreError, StoreMissingError
from pixity.live.config import SessionConfig
from pixity.live.follow import BarFollower, Update
from pixity.live.runner import Runner
from pixity.live.stores import SessionStores
from pixity.markettime import IST, bar_end, nse_calendar, session_close, session_open
from pixity.stores.lake import bars_from_frame, read_bars
from pixity.strategies import get_strategy

log = logging.getLogger(__name__)

CLOSE_GRACE = timedelta(seconds=30)  # market time the last minute of a 15m bar may lag
_MINUTE = timedelta(minutes=1)
_LAST_MS = timedelta(milliseconds=1)


@dataclass(slots=True)
class EngineCounts:
    """What the engine counted; shown in the report."""

    bars_1m: int = 0
    bars_15m: int = 0
    late_bars: int = 0
    signals: int = 0
    strategy_errors: int = 0
    polls: int = 0
    equity: list[tuple[datetime, float, float, float]] = field(default_factory=list)


class LiveEngine:
    """Run ``config``'s strategies over the live buffer for one session day."""

    def __init__(
        self,
        config: SessionConfig,
        stores: SessionStores,
        *,
        monotonic: Callable[[], float] = _time.monotonic,
        sleep: Callable[[float], None] = _time.sleep,
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.config = config
        self.stores = stores
        self._monotonic = monotonic
        self._sleep = sleep
        self._stop = stop
        specs = [get_strategy(s, config.strategy_params.get(s)) for s in config.strategies]
        self.runners = [
            Runner(spec, symbol, config.timeframe) for symbol in config.symbols for spec in specs
        ]
        self.counts = EngineCounts()
        self.session_date: date | None = None
        self.broker: PaperBroker | None = None
        self.feed_clock: ManualClock | None = None
        self._follower: BarFollower | None = None
        self._resampler: BarResampler | None = None
        self._fed: dict[str, tuple[datetime, float]] = {}  # last price event per symbol
        self._last_bar_end: dict[str, datetime] = {}
        self._last_change = monotonic()
        self.done = False
        self.stop_reason: str | None = None

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Record STARTING, wait for the live buffer, warm up, restore the paper account."""
        for runner in self.runners:
            runner.set_status(RunnerStatus.STARTING, "waiting for the live buffer")
            self._save_state(runner)
        day = self._wait_for_session()
        self.session_date = day
        self._warm_up(day)
        broker_config = _broker_config(self.config)
        self.broker = PaperBroker(
            broker_config, self.stores.paper, session_date=day, on_outcome=self._on_outcome
        )
        self.stores.restore_broker(self.broker, day)
        self.feed_clock = ManualClock(session_open(day) - timedelta(minutes=15))
        self._resampler = BarResampler(
            minutes=self.config.timeframe_minutes,
            on_bar=self._on_bar_15m,
            clock=self.feed_clock,
            grace=CLOSE_GRACE,
        )
        self._follower = BarFollower(self.stores.market_reader(), self.config.symbols, day)
        for runner in self.runners:
            if runner.set_status(RunnerStatus.RUNNING, None):
                self._save_state(runner)
        log.info(
            "session %s started: %d symbols x %d strategies",
            day,
            len(self.config.symbols),
            len(self.config.strategies),
        )

    def run(self) -> None:
        """Start, then step until done or told to stop; runners end STOPPED, or ERROR on failure."""
        reason = "finished"
        try:
            self.start()
            while not self.done:
                if self._stop():
                    reason = "stop requested"
                    break
                if not self.step():
                    self._sleep(self.config.poll_s)
            else:
                reason = self.stop_reason or reason
        except KeyboardInterrupt:
            reason = "interrupted"
            log.warning("session interrupted: stopping cleanly")
        except Exception as exc:
            self.fail(f"{type(exc).__name__}: {exc}")
            raise
        self.finish(reason)

    def fail(self, message: str) -> None:
        """Mark every runner ERROR with ``message``: the session itself failed."""
        self.stop_reason = f"failed: {message}"
        log.error("session failed: %s", message)
        for runner in self.runners:
            if runner.set_status(RunnerStatus.ERROR, message[:500]):
                self._save_state(runner)

    def finish(self, reason: str) -> None:
        """Mark every runner STOPPED (a failed one stays ERROR with its message)."""
        self.stop_reason = reason
        for runner in self.runners:
            if runner.set_status(RunnerStatus.STOPPED, None):  # a clean stop is not an error
                self._save_state(runner)
        log.info("session stopped: %s", reason)

    # ------------------------------------------------------------ one poll

    def step(self) -> bool:
        """Take one look at the live buffer and act on it; return whether anything changed."""
        assert self._follower is not None and self.feed_clock is not None
        self.counts.polls += 1
        update = self._follower.poll()
        if update is None:
            self._check_stale(self._monotonic())
            return False
        self._last_change = self._monotonic()
        self._apply(update)
        return True

    def _apply(self, update: Update) -> None:
        assert self._resampler is not None and self.feed_clock is not None
        assert self.broker is not None and self.session_date is not None
        for bar in sorted(update.closed + update.forming, key=lambda b: (b.ts, b.symbol)):
            self._prices(bar)
            if bar.closed:
                self.counts.bars_1m += 1
                self._last_bar_end[bar.symbol] = bar.ts + _MINUTE
                if self._resampler.on_bar(bar) is not TickOutcome.ACCEPTED:
                    self.counts.late_bars += 1
                    log.warning("1m bar %s %s came after its 15m bar closed", bar.symbol, bar.ts)
            self.broker.on_time(bar.ts)
        now = update.feed_clock
        if now is not None and now > self.feed_clock.now():
            self.feed_clock.set(now)
        self._resampler.on_time()
        self.broker.on_time(self.feed_clock.now())
        self._check_stale(self._monotonic())
        self._check_done(update)

    def _prices(self, bar: Bar) -> None:
        """Show the broker the prices a 1m bar carries: its open, then its latest close."""
        assert self.broker is not None and self.feed_clock is not None
        last = self._fed.get(bar.symbol)
        if last is None or last[0] < bar.ts:
            self.broker.on_price(bar.symbol, bar.open, bar.ts)
        seen = bar_end(bar.ts) - _LAST_MS
        if not bar.closed:
            seen = min(seen, max(bar.ts, self.feed_clock.now()))
        if last is None or (seen, bar.close) != last:
            self.broker.on_price(bar.symbol, bar.close, seen)
            self._fed[bar.symbol] = (seen, bar.close)

    def _on_bar_15m(self, bar: Bar) -> None:
        assert self.broker is not None
        self.counts.bars_15m += 1
        closes_at = bar_end(bar.ts, bar.minutes)
        for runner in self.runners:
            if runner.symbol != bar.symbol:
                continue
            outcome = runner.on_bar(bar)
            if outcome.failed:
                self.counts.strategy_errors += 1
            for signal in outcome.signals:
                self.counts.signals += 1
                self.stores.signals.save_signal(signal)
                self.broker.submit(signal, closes_at)
            self._save_state(runner)
        self.counts.equity.append((closes_at, *self.broker.equity_point()))

    def _on_outcome(self, outcome: SignalOutcome) -> None:
        self.stores.signals.set_status(outcome.signal_id, outcome.status, outcome.reason)
        if outcome.status is SignalStatus.REJECTED:
            log.info("signal %s rejected: %s", outcome.signal_id, outcome.reason)

    # ------------------------------------------------------------ checks

    def _check_stale(self, mono: float) -> None:
        if self.feed_clock is None or self.session_date is None:
            return
        now = self.feed_clock.now()
        if not session_open(self.session_date) <= now < session_close(self.session_date):
            return
        quiet = mono - self._last_change
        for runner in self.runners:
            error = None
            if quiet > self.config.stale_after_s:
                error = (
                    f"live buffer unchanged for {quiet:.0f} s (feed clock {now:%H:%M:%S}): "
                    "is `pixity ingest` running?"
                )
            else:
                last = self._last_bar_end.get(runner.symbol)
                bound = timedelta(minutes=self.config.stale_market_minutes)
                if last is not None and now - last > bound:
                    error = (
                        f"no 1m bar for {runner.symbol} since {last:%H:%M} (feed clock {now:%H:%M})"
                    )
            status = RunnerStatus.STALE if error else RunnerStatus.RUNNING
            if runner.state.status in (RunnerStatus.RUNNING, RunnerStatus.STALE):
                if runner.set_status(status, error):
                    if error:
                        log.warning(
                            "runner %s/%s STALE: %s", runner.symbol, runner.spec.strategy_id, error
                        )
                    self._save_state(runner)

    def _check_done(self, update: Update) -> None:
        assert self.feed_clock is not None and self.session_date is not None
        day = self.session_date
        if update.rolled_over or (update.session_date is not None and update.session_date > day):
            self.done, self.stop_reason = True, f"session day {day} ended (ingest rolled over)"
            return
        until = self.config.until
        end = session_close(day) if until is None else datetime.combine(day, until, IST)
        if self.feed_clock.now() >= end + CLOSE_GRACE:
            self.done = True
            self.stop_reason = "finished" if until is None else f"reached --until {until:%H:%M}"

    # ------------------------------------------------------------ helpers

    def _wait_for_session(self) -> date:
        """Return the ingest's session day, waiting for market.db with a bound."""
        deadline = self._monotonic() + self.config.wait_for_feed_s
        while True:
            day = self.stores.ingest_session_date()
            if day is not None:
                return day
            if self._monotonic() >= deadline:
                raise StoreMissingError(
                    f"no live buffer with data at {self.stores.paths.market} after "
                    f"{self.config.wait_for_feed_s:.0f} s: start `pixity ingest` first"
                )
            if self._stop():
                raise KeyboardInterrupt
            self._sleep(min(1.0, self.config.wait_for_feed_s / 10))

    def _warm_up(self, day: date) -> None:
        """Feed each runner the 15m bars of the days before ``day`` from the history lake."""
        need = max(r.spec.warmup_bars for r in self.runners)
        days_back = max(self.config.warmup_days, -(-need // 25) + 1)
        calendar = nse_calendar()
        first = day
        for _ in range(days_back):
            first = calendar.previous_trading_day(first)
        try:
            frame = read_bars(
                self.stores.paths.data_dir, self.config.symbols, first, day - timedelta(days=1)
            )
        except StoreError as exc:
            log.warning("history lake unreadable, strategies start cold: %s", exc)
            return
        bars = resample(bars_from_frame(frame), self.config.timeframe_minutes)
        for bar in bars:
            for runner in self.runners:
                if runner.symbol == bar.symbol:
                    runner.warm(bar)
        log.info(
            "warmed up on %d %s bars from %s to %s", len(bars), self.config.timeframe, first, day
        )

    def _save_state(self, runner: Runner) -> None:
        self.stores.config.upsert_runner_state(runner.state)


def _broker_config(config: SessionConfig) -> BrokerConfig:
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
