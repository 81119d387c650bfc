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
from datetime import date, datetime, timedelta

from pixity.broker.paper import SignalOutcome
from pixity.clock import ManualClock
from pixity.domain import RunnerState, RunnerStatus, Signal, SignalStatus
from pixity.errors import StoreError, StoreMissingError
from pixity.live.config import SessionConfig
from pixity.live.core import (
    CLOSE_GRACE,
    EngineCounts,
    SessionCore,
    make_runners,
    new_broker,
    warm,
    warmup_start,
)
from pixity.live.follow import BarFollower, Update
from pixity.live.runner import Runner
from pixity.live.stores import SessionStores
from pixity.markettime import IST, session_close, session_open
from pixity.stores.config import SessionStatus
from pixity.stores.lake import bars_from_frame, read_bars

log = logging.getLogger(__name__)

STOPPED_BEFORE_PRICE = "session stopped before the next price"


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
        self.runners = make_runners(config)
        self.session_date: date | None = None
        self.core: SessionCore | None = None
        self._follower: BarFollower | None = None
        self._last_change = monotonic()
        self.done = False
        self.stop_reason: str | None = None
        self._status_written: tuple[int, int] | None = None  # (bars_15m, late_bars) last written
        self._late_written = 0

    @property
    def counts(self) -> EngineCounts:
        """Return what the session counted (empty before it started)."""
        return self.core.counts if self.core is not None else EngineCounts()

    @property
    def feed_clock(self) -> ManualClock | None:
        """Return the feed's clock as the session last saw it."""
        return None if self.core is None else self.core.feed_clock

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Record STARTING, wait for the live buffer, warm up, restore the paper account."""
        for runner in self.runners:
            runner.set_status(RunnerStatus.STARTING, "waiting for the live buffer")
            self._save_state(runner)
        day = self._wait_for_session()
        self.session_date = day
        self._warm_up(day)
        broker = new_broker(self.config, self.stores.paper, day, self._on_outcome)
        self.stores.restore_broker(broker, day)
        self.core = SessionCore(
            self.config,
            self.runners,
            broker,
            day,
            on_signal=self._on_signal,
            on_state=self._on_state,
            end=self._end(day),
        )
        self._follower = BarFollower(self.stores.market_reader(), self.config.symbols, day)
        for runner in self.runners:
            if runner.set_status(RunnerStatus.RUNNING, None):
                self._save_state(runner)
        self._save_session_status("RUNNING")
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
                if reason.startswith("failed:"):
                    return  # fail() has marked the runners ERROR with why
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
        self._save_session_status("ERROR", self.stop_reason)

    def finish(self, reason: str) -> None:
        """Mark every runner STOPPED (a failed one stays ERROR with its message)."""
        self.stop_reason = reason
        if self.core is not None:
            cancelled = self.core.broker.cancel_open(STOPPED_BEFORE_PRICE)
            if cancelled:
                log.info("cancelled %d orders that no price reached before the stop", cancelled)
        for runner in self.runners:
            if runner.set_status(RunnerStatus.STOPPED, None):  # a clean stop is not an error
                self._save_state(runner)
        self._save_session_status("STOPPED", reason)
        log.info("session stopped: %s", reason)

    # ------------------------------------------------------------ one poll

    def step(self) -> bool:
        """Take one look at the live buffer and act on it; return whether anything changed."""
        assert self._follower is not None and self.core is not None
        self.core.counts.polls += 1
        update = self._follower.poll()
        if update is None:
            self._check_stale(self._monotonic())
            self._check_give_up(self._monotonic())
            return False
        self._last_change = self._monotonic()
        self.core.apply(update.closed + update.forming, update.feed_clock)
        counts = self.core.counts
        if self._status_written != (counts.bars_15m, counts.late_bars):
            self._save_session_status("RUNNING")  # on each 15m close, and on a late bar
        self._check_stale(self._monotonic())
        self._check_done(update)
        return True

    def _save_session_status(self, status: str, reason: str | None = None) -> None:
        """Write the day's session_status row (nothing before the session day is known)."""
        if self.session_date is None:
            return
        counts = self.counts
        self.stores.config.upsert_session_status(
            SessionStatus(
                session_date=self.session_date,
                run_id=self.config.run_id,
                status=status,
                stop_reason=reason,
                bars_1m=counts.bars_1m,
                bars_15m=counts.bars_15m,
                late_bars=counts.late_bars - self._late_written,
                signals=counts.signals,
                strategy_errors=counts.strategy_errors,
            )
        )
        self._late_written = counts.late_bars
        self._status_written = (counts.bars_15m, counts.late_bars)

    def _on_signal(self, signal: Signal) -> None:
        self.stores.signals.save_signal(signal)

    def _on_state(self, state: RunnerState) -> None:
        self.stores.config.upsert_runner_state(state)

    def _on_outcome(self, outcome: SignalOutcome) -> None:
        self.stores.signals.set_status(outcome.signal_id, outcome.status, outcome.reason)
        if outcome.status is SignalStatus.REJECTED:
            log.info("signal %s rejected: %s", outcome.signal_id, outcome.reason)

    # ------------------------------------------------------------ checks

    def _check_stale(self, mono: float) -> None:
        if self.core is None or self.session_date is None:
            return
        now = self.core.feed_clock.now()
        if not session_open(self.session_date) <= now < session_close(self.session_date):
            return
        quiet = mono - self._last_change
        for runner in self.runners:
            error = self._stale_reason(runner, now, quiet)
            status = RunnerStatus.STALE if error else RunnerStatus.RUNNING
            if runner.state.status in (RunnerStatus.RUNNING, RunnerStatus.STALE):
                if runner.set_status(status, error):
                    if error:
                        log.warning("runner %s/%s STALE: %s", runner.symbol, runner.spec.strategy_id, error)  # fmt: skip
                    self._save_state(runner)

    def _check_give_up(self, mono: float) -> None:
        """Stop, runners ERROR, when the live buffer stayed unchanged in session too long."""
        assert self.core is not None and self.session_date is not None
        now = self.core.feed_clock.now()
        quiet = mono - self._last_change
        in_session = session_open(self.session_date) <= now < session_close(self.session_date)
        if in_session and quiet > self.config.give_up_after_s:
            self.fail(
                f"live buffer unchanged for {quiet / 60:.0f} min (feed clock {now:%H:%M}): "
                "gave up; start `pixity ingest`, then `pixity live` again (it resumes the day)"
            )
            self.done = True

    def _stale_reason(self, runner: Runner, now: datetime, quiet: float) -> str | None:
        assert self.core is not None
        if quiet > self.config.stale_after_s:
            return (
                f"live buffer unchanged for {quiet:.0f} s (feed clock {now:%H:%M:%S}): "
                "is `pixity ingest` running?"
            )
        last = self.core.last_bar_end.get(runner.symbol)
        if last is not None and now - last > timedelta(minutes=self.config.stale_market_minutes):
            return f"no 1m bar for {runner.symbol} since {last:%H:%M} (feed clock {now:%H:%M})"
        return None

    def _check_done(self, update: Update) -> None:
        assert self.core is not None and self.session_date is not None
        day = self.session_date
        if update.rolled_over or (update.session_date is not None and update.session_date > day):
            self.done, self.stop_reason = True, f"session day {day} ended (ingest rolled over)"
            return
        until = self.config.until
        if self.core.feed_clock.now() >= self._end(day) + CLOSE_GRACE:
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
        first = warmup_start(self.runners, day, self.config.warmup_days)
        data_dir = self.stores.paths.data_dir
        try:
            frame = read_bars(data_dir, self.config.symbols, first, day - timedelta(days=1))
        except StoreError as exc:
            log.warning("history lake unreadable, strategies start cold: %s", exc)
            return
        count = warm(self.runners, bars_from_frame(frame), self.config.timeframe_minutes)
        log.info("warmed up on %d %s bars from %s to %s", count, self.config.timeframe, first, day)

    def _end(self, day: date) -> datetime:
        """Return when the session ends: ``--until``, else the close (IST, feed clock)."""
        until = self.config.until
        return session_close(day) if until is None else datetime.combine(day, until, IST)

    def _save_state(self, runner: Runner) -> None:
        self.stores.config.upsert_runner_state(runner.state)
