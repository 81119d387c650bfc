"""What ingest knows about itself: counters, flush results, buffer state; the ``/health`` JSON.

Three threads touch it: the main loop (ticks, rejections, feed events), the flusher (flush
results) and the HTTP server (``snapshot``). Each field has one writer; the lock guards the
rejection counter and the tick-rate window, which are mutated in place (the commit-duration
histogram is prometheus_client's, which locks itself).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import Histogram

from pixity.errors import CalendarRangeError
from pixity.feeds.secret import Secret, redact
from pixity.markettime import from_epoch_ms, nse_calendar

RATE_WINDOW_S = 10
# Upper bounds (s) of /metrics' commit-duration histogram: the flush runs every 250 ms, and a
# commit past a second means the writer falls behind.
FLUSH_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BAD_WATCHDOG = ("silent", "stale", "stalled", "tripped", "timeout")


class FeedHealthView(Protocol):
    """The part of the adapter's ``FeedHealth`` that ingest reports."""

    @property
    def connected(self) -> bool: ...
    @property
    def reconnects(self) -> int: ...
    @property
    def watchdog(self) -> object: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def handler_errors(self) -> int: ...
    @property
    def text_messages(self) -> int: ...
    @property
    def connect_failures(self) -> int: ...
    @property
    def token_rejections(self) -> int: ...
    @property
    def recycles(self) -> int: ...


class IngestHealth:
    """Counters and state of one ingest process, and the health report built from them."""

    def __init__(self, *, stale_tick_s: float = 60.0, secrets: tuple[Secret, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets = secrets
        self.stale_tick_s = stale_tick_s
        self.started_mono = time.monotonic()
        self.feed_status: Callable[[], FeedHealthView] | None = None
        # main loop
        self.ticks_total = 0
        self.rejected: Counter[str] = Counter()
        self.quotes_without_trade = 0
        self.frames_total = 0
        self.last_tick_mono: float | None = None
        self._rate: deque[list[int]] = deque()
        self.feed_connected = False
        self.connects = 0
        self.buffer_depth = 0
        self.buffer_full = False
        self.catching_up = False
        self.journal_bytes = 0
        self.journal_error: str | None = None  # the journal cannot be appended to
        self.frames_held = 0  # frames received and waiting in memory for the journal
        self.session_date: str | None = None
        self.feed_clock_ms: int | None = None  # set per frame: made a datetime when read
        self.feed_error: str | None = None
        # flusher
        self.flush_failures = 0
        self.flushes_total = 0
        self.last_flush_ms: float | None = None
        # the successful commits' durations, in no registry: /metrics' collector yields it
        self.flush_seconds = Histogram(
            "pixity_ingest_flush_seconds",
            "Duration of the successful commits",
            buckets=FLUSH_BUCKETS_S,
            registry=None,
        )
        self.last_flush_at: datetime | None = None
        self.flush_error: str | None = None
        self.wal_bytes = 0
        self.rollover_error: str | None = None
        self.last_rollover: str | None = None
        self.fatal_error: str | None = None

    @property
    def feed_clock(self) -> datetime | None:
        """Return the feed's clock (IST), or None before its first stamp."""
        return None if self.feed_clock_ms is None else from_epoch_ms(self.feed_clock_ms)

    # ------------------------------------------------------------ updates

    def count_tick(self, count: int = 1) -> None:
        """Count ``count`` accepted ticks (for the total, the rate and the age)."""
        now = time.monotonic()
        self.ticks_total += count
        self.last_tick_mono = now
        second = int(now)
        with self._lock:
            if self._rate and self._rate[-1][0] == second:
                self._rate[-1][1] += count
            else:
                self._rate.append([second, count])
                while self._rate and self._rate[0][0] <= second - RATE_WINDOW_S - 1:
                    self._rate.popleft()

    def reject(self, reason: str, count: int = 1) -> None:
        """Count ``count`` inputs refused for ``reason``."""
        with self._lock:
            self.rejected[reason] += count

    def flushed(self, elapsed_ms: float) -> None:
        """Record a successful commit (flusher thread)."""
        self.flush_seconds.observe(elapsed_ms / 1000)
        self.flushes_total += 1
        self.last_flush_ms = round(elapsed_ms, 3)
        self.last_flush_at = datetime.now(UTC)
        self.flush_error = None

    def flush_failed(self, message: str) -> None:
        """Record a failed commit (flusher thread)."""
        self.flush_failures += 1
        self.flush_error = message

    # ------------------------------------------------------------ report

    def ticks_per_s(self) -> float:
        """Return accepted ticks per second over the last ``RATE_WINDOW_S`` full seconds."""
        now = int(time.monotonic())
        with self._lock:
            total = sum(n for second, n in self._rate if now - RATE_WINDOW_S <= second < now)
        return round(total / RATE_WINDOW_S, 3)

    def snapshot(self) -> dict[str, Any]:
        """Return the ``/health`` report (JSON-ready)."""
        now = time.monotonic()
        feed = self._feed_view()
        clock = self.feed_clock
        with self._lock:
            rejected = dict(self.rejected)
        report: dict[str, Any] = {
            "feed_connected": self.feed_connected,
            "last_tick_age_s": None
            if self.last_tick_mono is None
            else round(now - self.last_tick_mono, 3),
            "ticks_per_s": self.ticks_per_s(),
            "ticks_total": self.ticks_total,
            "ticks_rejected": rejected,
            "quotes_without_trade": self.quotes_without_trade,
            "frames_total": self.frames_total,
            "flush_failures": self.flush_failures,
            "flushes_total": self.flushes_total,
            "last_flush_ms": self.last_flush_ms,
            "last_flush_at": None if self.last_flush_at is None else self.last_flush_at.isoformat(),
            "buffer_depth": self.buffer_depth,
            "buffer_full": self.buffer_full,
            "catching_up": self.catching_up,
            "journal_bytes": self.journal_bytes,
            "frames_held": self.frames_held,
            "wal_bytes": self.wal_bytes,
            "reconnects": feed["reconnects"],
            "watchdog": feed["watchdog"],
            "feed_counts": feed["counts"],
            "session_date": self.session_date,
            "feed_clock": None if clock is None else clock.isoformat(),
            "last_rollover": self.last_rollover,
        }
        errors = {
            "journal_error": self.journal_error,
            "flush_error": self.flush_error,
            "rollover_error": self.rollover_error,
            "feed_error": feed["error"],
            "fatal_error": self.fatal_error,
        }
        report.update({k: self._scrub(v) for k, v in errors.items() if v})
        status, reasons = self._status(report)
        return {"status": status, "reasons": reasons, **report}

    def _feed_view(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "reconnects": max(0, self.connects - 1),
            "watchdog": None,
            "error": self.feed_error,
            "counts": {},
        }
        if self.feed_status is not None:
            status = self.feed_status()
            view["reconnects"] = int(status.reconnects)
            view["watchdog"] = None if status.watchdog is None else str(status.watchdog)
            view["error"] = self.feed_error or status.last_error
            view["counts"] = {
                # A frame whose processing raised was journalled but not applied: a bug to see.
                "frames_failed": status.handler_errors,
                "text_messages": status.text_messages,
                "connect_failures": status.connect_failures,
                "token_rejections": status.token_rejections,
                "watchdog_recycles": status.recycles,
            }
        return view

    def _status(self, report: dict[str, Any]) -> tuple[str, list[str]]:
        if self.fatal_error:
            return "down", ["stopped"]
        reasons = []
        if not self.feed_connected:
            reasons.append("feed_disconnected")
        watchdog = str(report["watchdog"] or "").lower()
        if any(word in watchdog for word in BAD_WATCHDOG):
            reasons.append("watchdog_silent")
        if self.journal_error:
            reasons.append("journal_failing")
        if self.flush_error:
            reasons.append("flush_failing")
        if self.buffer_full:
            reasons.append("buffer_full")
        if self.rollover_error:
            reasons.append("rollover_failing")
        if report["feed_counts"].get("frames_failed"):
            reasons.append("frames_failed")
        if self._ticks_stale():
            reasons.append("no_ticks")
        return ("degraded" if reasons else "ok"), reasons

    def _ticks_stale(self) -> bool:
        clock = self.feed_clock
        if clock is None:
            return False
        try:
            market_open = nse_calendar().is_open(clock)
        except CalendarRangeError:
            return False
        last = self.last_tick_mono if self.last_tick_mono is not None else self.started_mono
        return market_open and time.monotonic() - last > self.stale_tick_s

    def _scrub(self, text: str) -> str:
        return redact(str(text), self._secrets)
