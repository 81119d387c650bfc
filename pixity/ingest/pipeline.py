"""The feed callbacks: journal each frame, validate its quotes, build 1m bars, hand over batches.

``Pipeline`` is the ``FeedEvents`` the adapter drives, on the asyncio loop's thread. A frame
is decoded first only to learn which session day it belongs to (its ``currentTs``); it is then
appended to that day's journal and only then processed, so nothing is acted on before it is
safe on disk. Modes:

- ``LIVE``: frames are processed as they arrive;
- ``JOURNAL_ONLY``: the tick buffer hit its cap (the store is not keeping up): frames are only
  journaled, the uncommitted in-memory work is dropped (it is all in the journal);
- ``CATCH_UP``: the day was rebuilt from the store (``restore``) and the journal is replayed
  from the committed offset through the same processing path until it reaches the end.

Start, restart after a crash and recovery from a full buffer all take the last path, so a
restarted ingest computes what an uninterrupted one would have.

A frame the journal cannot take (a full or read-only disk) is held in memory, and so is
every frame after it, in order, up to ``max_held_bytes``; ``pump`` offers them to the journal
again and processes them once it takes them. Past the cap the ingest stops (``StoreError``).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Generator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import cast

from pixity.bars import REJECTED_OUTCOMES, TickOutcome
from pixity.domain import Bar, FeedState, FeedStatus, TickRow
from pixity.errors import CalendarRangeError, DataIntegrityError, InvalidValueError, StoreError
from pixity.feeds.journal import MAGIC, JournalRecord, read_journal
from pixity.feeds.upstox_trades import TradeEntry, TradeFrame, decode_trades
from pixity.feeds.upstox_wire import MalformedFrameError
from pixity.ingest.batch import Batch, GapClosed, GapOpened, RolloverJob
from pixity.ingest.config import IngestConfig
from pixity.ingest.day import SessionDay
from pixity.ingest.feedclock import FeedClock
from pixity.ingest.flusher import Flusher
from pixity.ingest.health import IngestHealth
from pixity.ingest.restore import restore_day
from pixity.ingest.validate import MAX_QUANTITY, Reason
from pixity.markettime import IST, from_epoch_ms, nse_calendar, to_epoch_ms
from pixity.stores.market import IngestState, MarketReader

log = logging.getLogger(__name__)

_MINUTE_MS = 60_000


class Mode(StrEnum):
    """What the pipeline does with a frame."""

    LIVE = "live"
    JOURNAL_ONLY = "journal_only"
    CATCH_UP = "catch_up"


class Pipeline:
    """Frames in, batches out to the flusher; one instance per ingest process."""

    def __init__(self, config: IngestConfig, health: IngestHealth, flusher: Flusher) -> None:
        self.config = config
        self.health = health
        self.flusher = flusher
        self.clock = FeedClock()  # processing clock: a function of the journal alone
        self.live_clock = FeedClock()  # every frame received: for gaps, routing, health
        self.mode = Mode.LIVE
        self.day: SessionDay | None = None
        self.rolled_day: date | None = None
        self.pending = Batch()
        # (journal end, feed clock ms) after the last frame processed into ``pending``
        self._pending_at: tuple[int, int | None] | None = None
        self.feed_error: Callable[[], str | None] = lambda: None
        self._cursor = len(MAGIC)
        self._deferred: list[tuple[bytes, int]] = []
        self._touched: set[str] = set()
        self._silent = False
        self._gap_open = False
        self._close_gap_on_frame = False
        self._last_tick_ms: int | None = None  # exchange time of the last accepted tick
        self._last_message_ns: int | None = None  # when the last frame came (epoch ns)
        self._status_due = 0.0
        self._calendar_known_until_ms = 0  # stamps before this lie on days the calendar knows
        self._held: deque[tuple[bytes, int]] = deque()  # frames waiting for the journal
        self._held_bytes = 0
        # The clock cannot close a bar before this feed time (ms): see _close_bars_by_clock.
        self._close_due_ms = 0
        # Rounded down: a bound reached early only costs a scan that closes nothing.
        self._grace_ms = int(config.grace // timedelta(milliseconds=1))

    # ------------------------------------------------------------ start

    def start(self) -> None:
        """Pick up where the store says the last run stood (restore and replay happen in steps)."""
        state = self._stored_state()
        if state is None:
            return
        self.live_clock.observe(state.feed_clock_ms or 0)
        if state.rolled_over:
            self.rolled_day = state.session_date
            return
        self._open_day(state.session_date)
        if state.feed_clock_ms:  # the time between the last run and this one is a gap
            self._open_gap("ingest restarted")

    def _stored_state(self) -> IngestState | None:
        with MarketReader(self.config.paths.market, busy_timeout_s=self.config.busy_timeout_s) as r:
            return r.ingest_state()

    def _open_day(self, day: date) -> None:
        self.day = SessionDay(
            day,
            journal_dir=self.config.journal_dir,
            symbols=self.config.symbols,
            grace=self.config.grace,
            on_bar=self._on_bar,
        )
        self.health.session_date = day.isoformat()
        log.info("session %s: journal %s", day, self.day.journal_path)
        self._rebuild()

    def _rebuild(self) -> None:
        """Reset the day from the store's committed state and replay the journal past it."""
        day = self.day
        assert day is not None
        with MarketReader(self.config.paths.market, busy_timeout_s=self.config.busy_timeout_s) as r:
            state = r.ingest_state()
            if state is not None and state.session_date != day.day:
                state = None
            self.clock = FeedClock(None if state is None else state.feed_clock_ms)
            day.reset(self.clock)
            self._silent = True
            try:
                if state is not None:
                    restore_day(r, day, state)
            finally:
                self._silent = False
        self._cursor = len(MAGIC) if state is None else state.journal_offset
        if self._cursor > day.journal.position:
            raise DataIntegrityError(
                f"journal {day.journal_path} ends at {day.journal.position} but market.db "
                f"committed offset {self._cursor}: the journal was cut or replaced"
            )
        self.pending = Batch(gaps=self.pending.gaps, feed_status=self.pending.feed_status)
        self._pending_at = None
        self._touched.clear()
        self._close_due_ms = 0  # restored bars: the next frame scans them
        self.mode = Mode.CATCH_UP if self._cursor < day.journal.position else Mode.LIVE
        self.health.catching_up = self.mode is Mode.CATCH_UP

    # ------------------------------------------------------------ FeedEvents

    def on_frame(self, raw: bytes, received_ns: int) -> None:
        """Journal one frame, then process it (or leave it to the catch-up replay)."""
        if self._held:  # earlier frames wait for the journal: this one waits behind them
            self._hold(raw, received_ns)
            return
        self._last_message_ns = received_ns
        frame = self._decode(raw)
        if frame is not None:
            self._check_calendar(frame.current_ts_ms)
            self.live_clock.observe(frame.current_ts_ms)
            self.health.feed_clock_ms = self.live_clock.ms
            if self._close_gap_on_frame and self.live_clock.ms:
                self._close_gap()
        if self._needs_new_day():
            if self.mode is not Mode.LIVE:
                self._deferred.append((raw, received_ns))  # replayed once caught up
                return
            self._roll_over()
        day = self._day_for_frame()
        if day is None:
            self._count_unrouted(frame)
            return
        try:
            end = day.journal.append(raw, received_ns)
        except StoreError as exc:
            if self.health.journal_error is None:  # once, not at every retry
                log.error("holding frames in memory until the journal takes them again: %s", exc)
            self.health.journal_error = f"{type(exc).__name__}: {exc}"
            self._hold(raw, received_ns)
            return
        self.health.journal_bytes = end
        if self.mode is Mode.LIVE:
            self._process(frame, end)
            self._check_buffer()

    def on_connected(self, at: datetime) -> None:
        """Note the feed is up; the open gap closes at the next frame's exchange time."""
        self.health.feed_connected = True
        self.health.connects += 1
        if self._gap_open:
            self._close_gap_on_frame = True
        log.info("feed %s connected at %s", self.config.feed_name, at.isoformat())

    def on_disconnected(self, at: datetime, reason: str) -> None:
        """Note the feed is down and open a gap at the feed's clock."""
        self.health.feed_connected = False
        self._close_gap_on_frame = False
        self._open_gap(reason or "disconnected")
        log.warning("feed %s disconnected at %s: %s", self.config.feed_name, at.isoformat(), reason)

    def _hold(self, raw: bytes, received_ns: int) -> None:
        self._held.append((raw, received_ns))
        self._held_bytes += len(raw)
        self.health.frames_held = len(self._held)
        if self._held_bytes > self.config.max_held_bytes:
            raise StoreError(
                f"{len(self._held)} frames ({self._held_bytes} bytes) wait in memory for the "
                f"journal, past the cap of {self.config.max_held_bytes} bytes: "
                f"{self.health.journal_error}"
            )

    def _release_held(self) -> None:
        """Offer the held frames to the journal again, in order; process those it takes."""
        held, self._held, self._held_bytes = self._held, deque(), 0
        while held:
            self.on_frame(*held.popleft())
            if self._held:  # the journal still fails: the rest wait behind that frame
                self._held.extend(held)
                self._held_bytes += sum(len(raw) for raw, _ in held)
                break
        self.health.frames_held = len(self._held)
        if not self._held:
            self.health.journal_error = None
            log.info("the journal takes frames again: every held frame is journaled")

    # ------------------------------------------------------------ routing

    def _decode(self, raw: bytes) -> TradeFrame | None:
        try:
            return decode_trades(raw)
        except MalformedFrameError as exc:
            log.warning("malformed frame (%d bytes): %s", len(raw), exc)
            return None

    def _check_calendar(self, ts_ms: int) -> None:
        """Stop (``CalendarRangeError``) at a stamp on a day the NSE calendar does not know.

        Checked before the frame moves anything: acted on, it would roll the session over and
        then fail to open its day, and a restarted ingest would find today ended early.
        """
        if ts_ms < self._calendar_known_until_ms or ts_ms <= (self.live_clock.ms or 0):
            return
        day = from_epoch_ms(ts_ms).date()
        nse_calendar().is_trading_day(day)  # raises CalendarRangeError past the known years
        self._calendar_known_until_ms = to_epoch_ms(
            datetime.combine(day + timedelta(days=1), datetime.min.time(), IST)
        )

    def _frame_day(self) -> date | None:
        ms = self.live_clock.ms
        return None if ms is None else from_epoch_ms(ms).astimezone(IST).date()

    def _needs_new_day(self) -> bool:
        today = self._frame_day()
        return self.day is not None and today is not None and today > self.day.day

    def _day_for_frame(self) -> SessionDay | None:
        if self.day is not None:
            return self.day
        today = self._frame_day()
        if today is None or (self.rolled_day is not None and today <= self.rolled_day):
            return None
        self._open_day(today)
        return self.day

    def _count_unrouted(self, frame: TradeFrame | None) -> None:
        """Count a frame that belongs to no open day (before the first stamp, after a rollover)."""
        self.health.frames_total += 1
        if frame is None:
            self.health.reject(Reason.MALFORMED_FRAME)
            return
        trades = sum(
            1 for _, ltp, ltt_ms, _, _ in frame.entries if ltp is not None and ltt_ms is not None
        )
        if trades:
            self.health.reject(Reason.OUTSIDE_SESSION, trades)

    # ------------------------------------------------------------ processing

    def _process(self, frame: TradeFrame | None, end: int) -> None:
        day = self.day
        assert day is not None
        self.health.frames_total += 1
        if frame is None:
            self.health.reject(Reason.MALFORMED_FRAME)
        else:
            self.clock.observe(frame.current_ts_ms)
            ticks = self.pending.ticks  # not handed over while the frame's quotes run
            before = len(ticks)
            try:
                self._quotes(day, frame.entries)
            finally:
                if len(ticks) > before:  # counted per frame: one clock read and lock, not per tick
                    self.health.count_tick(len(ticks) - before)
            self._close_bars_by_clock(day)
        self._pending_at = (end, self.clock.ms)  # the batch's state, made at handoff
        if day.rollover_due(self.clock.ms, self.config.rollover_delay):
            self._roll_over()

    def _quotes(self, day: SessionDay, entries: tuple[TradeEntry, ...]) -> None:
        """Validate a frame's quotes and apply the good ones to the bars, in order.

        The per-tick path. Each quote is handled exactly as ``check``, then ``on_trade``, then
        ``accept`` would handle it (reasons, order, volume attribution, seq, the bar and the
        counts): the common one, a trade inside its symbol's forming bar whose values are of
        the types and in the ranges ``check`` wants, is done here in one go, with its checks
        spelled out and nothing looked up twice; anything else takes the three calls.
        """
        validator, bars, health = day.validator, day.bars, self.health
        check, accept, on_trade = validator.check, validator.accept, bars.on_trade
        symbols, last_trade, high_water = validator.trade_state()
        open_ms, close_ms = validator.session_ms
        states, counts = bars.symbol_states(), bars.counts
        append, touch = self.pending.ticks.append, self._touched.add
        due, grace = self._close_due_ms, self._grace_ms
        in_order = out_of_order = 0  # the fast path's outcomes, counted once per frame
        inf = math.inf
        try:
            for entry in entries:
                key, ltp, ltt, ltq, vtt = entry
                state = states.get(key)
                builder = None if state is None else state.builder
                if (
                    builder is not None
                    and ltt.__class__ is int
                    and builder.start_ms <= ltt < builder.end_ms
                    and open_ms <= ltt < close_ms
                    and ltp.__class__ is float
                    and 0.0 < ltp < inf
                    and ltq.__class__ is int
                    and 0 <= ltq <= MAX_QUANTITY
                    and (vtt is None or (vtt.__class__ is int and 0 <= vtt <= MAX_QUANTITY))
                    and key in symbols
                ):
                    assert state is not None
                    trade = (ltt, ltp, ltq, vtt)
                    if last_trade.get(key) == trade:  # check's duplicate
                        health.reject(Reason.DUPLICATE)
                        continue
                    seen = state.seen
                    if trade in seen:  # on_trade's duplicate
                        counts[TickOutcome.DUPLICATE] += 1
                        health.reject(Reason.DUPLICATE)
                        continue
                    high = high_water.get(key)
                    volume = (
                        ltq if vtt is None or high is None else (vtt - high if vtt > high else 0)
                    )
                    seq = validator.next_seq
                    seen.add(trade)
                    builder.add_trade(ltt, seq, ltp, volume)
                    last = state.last_ms
                    if last is not None and ltt < last:
                        out_of_order += 1
                    else:
                        state.last_ms = ltt
                        in_order += 1
                    # No bar started, so the clock's bound stays (its end was counted in).
                    validator.next_seq = seq + 1
                    last_trade[key] = trade
                    if vtt is not None and (high is None or vtt > high):
                        high_water[key] = vtt
                    append((key, ltt, ltp, ltq, vtt, seq, volume))
                    touch(key)
                    self._last_tick_ms = ltt
                    continue
                try:
                    result = check(entry)
                except InvalidValueError as exc:
                    log.warning("quote %s refused: %s", key, exc)
                    health.reject(Reason.INVALID_TICK)
                    continue
                if result is None:
                    health.quotes_without_trade += 1
                    continue
                if result.__class__ is Reason:
                    health.reject(result)
                    continue
                row = cast(TickRow, result)
                outcome = on_trade(row)
                # Whatever the outcome, the tick may have started a bar: the earliest time
                # the clock can close one moves to that bar's end plus the grace.
                ends = (row[1] // _MINUTE_MS + 1) * _MINUTE_MS + grace
                if ends < due:
                    due = ends
                if outcome in REJECTED_OUTCOMES:
                    health.reject(outcome.value)
                    continue
                accept(row)
                append(row)
                touch(row[0])
                self._last_tick_ms = row[1]  # cut to the second when reported
        finally:
            self._close_due_ms = due
            if in_order:
                counts[TickOutcome.ACCEPTED] += in_order
            if out_of_order:
                counts[TickOutcome.OUT_OF_ORDER] += out_of_order

    def _close_bars_by_clock(self, day: SessionDay) -> None:
        """Close the bars the clock has passed; skip the scan while none can be due.

        1m bars end on whole minutes and close at end + grace. Right after a scan at ``now``
        every bar left open ends after ``now - grace``, so none can close before the next
        minute past that plus the grace, unless a tick since then started an earlier one
        (``_quotes`` lowers the bound for those). Skipping the scan below that bound changes
        nothing but its cost: a scan of every symbol per frame.
        """
        now = self.clock.ms or 0
        if now < self._close_due_ms:
            return
        day.bars.on_time()
        grace = self._grace_ms
        self._close_due_ms = ((now - grace) // _MINUTE_MS + 1) * _MINUTE_MS + grace

    def _on_bar(self, bar: Bar) -> None:
        if not self._silent:
            self.pending.add_bar(bar)

    # ------------------------------------------------------------ handing over

    def handoff(self, *, force: bool = False) -> bool:
        """Give the pending batch to the flusher unless its backlog is full; return if given."""
        if self.day is not None and self.mode is not Mode.JOURNAL_ONLY:
            for bar in self.day.bars.forming(only=self._touched):
                self.pending.add_bar(bar)
            self._touched.clear()
        if self._pending_at is not None:
            assert self.day is not None  # a day change hands over or rebuilds first
            self.pending.state = self.day.state(*self._pending_at)
            self._pending_at = None
        if self.pending.empty:
            return True
        if not force and self.flusher.backlog() >= self.config.max_backlog:
            return False
        self.flusher.submit(self.pending)
        self.pending = Batch()
        return True

    def buffer_depth(self) -> int:
        """Return ticks accepted and not yet committed."""
        return len(self.pending.ticks) + self.flusher.queued_ticks

    def _check_buffer(self) -> None:
        if len(self.pending.ticks) >= self.config.max_batch_ticks:
            self.handoff()
        depth = self.buffer_depth()
        self.health.buffer_depth = depth
        if depth >= self.config.buffer_cap_ticks:
            self._journal_only()

    def _journal_only(self) -> None:
        """Stop holding ticks in memory: they are in the journal and will be replayed."""
        dropped = len(self.pending.ticks)
        self.health.ticks_total -= dropped  # they will be counted again when replayed
        self.pending = Batch(gaps=self.pending.gaps, feed_status=self.pending.feed_status)
        self._pending_at = None
        self._touched.clear()
        self.mode = Mode.JOURNAL_ONLY
        self.health.buffer_full = True
        log.error(
            "tick buffer full (%d ticks, cap %d): journaling only until the store catches up",
            self.buffer_depth() + dropped,
            self.config.buffer_cap_ticks,
        )

    # ------------------------------------------------------------ rollover and gaps

    def _roll_over(self) -> None:
        day = self.day
        assert day is not None
        day.bars.close_all()
        self.handoff(force=True)
        self.flusher.submit(RolloverJob(day.day))
        day.close()
        self.rolled_day, self.day = day.day, None
        self.health.session_date = None
        log.info("session %s over at feed clock %s: rolling over", day.day, self.clock.now())

    def _open_gap(self, reason: str) -> None:
        at = self.live_clock.now_seconds()
        if at is None:
            return  # no market time known yet: nothing to place the gap in
        self._gap_open = True
        self.pending.gaps.append(GapOpened(at=at, reason=reason))

    def _close_gap(self) -> None:
        at = self.live_clock.now_seconds()
        assert at is not None
        self._gap_open = self._close_gap_on_frame = False
        self.pending.gaps.append(GapClosed(at=at))

    # ------------------------------------------------------------ the loop's tick

    def pump(self) -> None:
        """Do the periodic work: catch up, recover from a full buffer, hand over, report."""
        if self._held:
            self._release_held()
        if self.mode is Mode.JOURNAL_ONLY and self.flusher.idle() and not self.health.flush_error:
            log.info("store keeps up again: rebuilding from it and replaying the journal")
            self._rebuild()
        if self.mode is Mode.CATCH_UP:
            self.catch_up_step()
        self._report_status()
        self.handoff()
        self.health.buffer_depth = self.buffer_depth()

    def catch_up_step(self) -> bool:
        """Replay up to ``catch_up_records`` journal records; return True once caught up."""
        day = self.day
        assert day is not None
        if self.flusher.backlog() >= self.config.max_backlog:
            return False  # let the flusher drain first
        reader = cast(
            Generator[JournalRecord, None, None], read_journal(day.journal_path, self._cursor)
        )
        with closing(reader) as records:
            for count, record in enumerate(records, 1):
                self._process(self._decode(record.payload), record.end)
                self._cursor = record.end
                if self.day is None or count >= self.config.catch_up_records:
                    break
                if len(self.pending.ticks) >= self.config.max_batch_ticks:
                    break
        self.handoff()
        if self.day is None or self._cursor >= self.day.journal.position:
            self._go_live()
            return True
        self._check_buffer_in_catch_up()
        return False

    def _check_buffer_in_catch_up(self) -> None:
        if self.buffer_depth() >= self.config.buffer_cap_ticks:
            self._journal_only()

    def _go_live(self) -> None:
        self.mode = Mode.LIVE
        self.health.catching_up = False
        self.health.buffer_full = False
        log.info("caught up with the journal")
        deferred, self._deferred = self._deferred, []
        for raw, received_ns in deferred:
            self.on_frame(raw, received_ns)

    def _report_status(self, *, force: bool = False, state: FeedState | None = None) -> None:
        now = time.monotonic()
        if not force and now < self._status_due:
            return
        self._status_due = now + self.config.status_interval_s
        if state is None:
            state = FeedState.CONNECTED if self.health.feed_connected else FeedState.DISCONNECTED
        self.pending.feed_status = FeedStatus(
            feed=self.config.feed_name,
            state=state,
            last_tick_ts=None
            if self._last_tick_ms is None
            else from_epoch_ms(self._last_tick_ms).replace(microsecond=0),
            last_message_at=None
            if self._last_message_ns is None
            else datetime.fromtimestamp(self._last_message_ns / 1e9, tz=UTC),
            reconnects=max(0, self.health.connects - 1),
            last_error=self.feed_error(),
        )

    def finish(self) -> None:
        """Hand over everything with a final STOPPED status (the shutdown's last step here)."""
        if self._held:
            self._release_held()
        if self._held:
            log.error("%d frames the journal never took are lost", len(self._held))
        self._report_status(force=True, state=FeedState.STOPPED)
        self.handoff(force=True)

    def close(self) -> None:
        """Close the day's journal."""
        if self.day is not None:
            self.day.close()

    def market_open(self, at: datetime | None = None) -> bool:
        """Tell whether the session is open at ``at`` (default: the feed's clock; unknown = open)."""
        when = at
        if when is None:
            if self.live_clock.ms is None:
                return True
            when = self.live_clock.now()
        try:
            return nse_calendar().is_open(when)
        except CalendarRangeError:
            return True
