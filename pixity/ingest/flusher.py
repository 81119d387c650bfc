"""The one thread that writes ``market.db``: batches, gaps, feed status and rollovers, in order.

SQLite connections belong to the thread that made them, so the flusher opens the
``MarketStore`` itself and is its only user. Items are committed in the order submitted;
consecutive batches waiting in the queue are merged into one transaction. A batch's journal
is fsynced before the transaction that stores its position commits.

A failed write keeps its item and retries it with a bounded backoff (0.05 s doubling to
``max_backoff_s``), counting every failure in health: the main loop keeps journaling, so
nothing is lost. ``StoreError`` is retried here although its policy elsewhere is STOP: for the
live buffer, a locked, full or read-only disk is the expected transient. Errors that mean the
data itself is wrong (``DataIntegrityError``, ``InvalidValueError``, ``SchemaVersionError``)
stop the flusher loudly; the main loop sees ``fatal`` and exits.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from pathlib import Path

import pyarrow as pa

from pixity.domain import Gap
from pixity.errors import PixityError, StoreBusyError, StoreError, StoreMissingError
from pixity.ingest.batch import Batch, GapClosed, GapOpened, RolloverJob
from pixity.ingest.health import IngestHealth
from pixity.stores import lake
from pixity.stores.market import MarketReader, MarketStore

log = logging.getLogger(__name__)

Item = Batch | RolloverJob
_OPEN_TIMEOUT_S = 30.0


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, StoreBusyError | OSError | pa.ArrowException):
        return True
    return type(exc) in (StoreError, StoreMissingError)


class Flusher:
    """Commit what the main loop hands over, on a thread of its own."""

    def __init__(
        self,
        *,
        market_path: Path,
        data_dir: Path,
        health: IngestHealth,
        feed_name: str,
        busy_timeout_s: float = 5.0,
        max_backoff_s: float = 2.0,
    ) -> None:
        self._market_path = market_path
        self._live_dir = market_path.parent
        self._data_dir = data_dir
        self._health = health
        self._feed = feed_name
        self._busy_timeout_s = busy_timeout_s
        self._max_backoff_s = max_backoff_s
        self._items: deque[Item] = deque()
        self._cond = threading.Condition()
        self._inflight = False
        self._queued_ticks = 0
        self._stopping = False
        self._abort = threading.Event()
        self._ready = threading.Event()
        self._open_gap: int | None = None
        self.fatal: str | None = None
        self._thread = threading.Thread(target=self._main, name="ingest-flusher", daemon=True)

    # ------------------------------------------------------------ main-thread API

    def start(self) -> None:
        """Start the thread and wait (bounded) until the store is open and migrated."""
        self._thread.start()
        if not self._ready.wait(_OPEN_TIMEOUT_S):
            raise StoreError(f"market.db ({self._market_path}): not open after {_OPEN_TIMEOUT_S} s")
        if self.fatal is not None:
            raise StoreError(self.fatal)

    def submit(self, item: Item) -> None:
        """Queue ``item`` for commit (always accepted: the caller watches ``backlog``)."""
        with self._cond:
            self._items.append(item)
            if isinstance(item, Batch):
                self._queued_ticks += len(item.ticks)
            self._cond.notify_all()

    def backlog(self) -> int:
        """Return how many items wait (the one being written included)."""
        with self._cond:
            return len(self._items) + int(self._inflight)

    @property
    def queued_ticks(self) -> int:
        """Return how many ticks are handed over and not yet committed."""
        return self._queued_ticks

    def idle(self) -> bool:
        """Tell whether everything handed over is committed."""
        return self.backlog() == 0

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for everything handed over to commit; return whether it did."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._items or self._inflight:
                left = deadline - time.monotonic()
                if left <= 0 or self.fatal is not None:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def stop(self, timeout: float) -> bool:
        """Commit what is queued (waiting up to ``timeout`` s), then end the thread.

        Return False if the queue could not be committed in time; the rest stays in the journal.
        """
        drained = self.wait_idle(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if not drained:
            self._abort.set()
        self._thread.join(timeout=max(1.0, self._max_backoff_s + 1.0))
        return drained and self.fatal is None

    # ------------------------------------------------------------ thread

    def _main(self) -> None:
        try:
            store = MarketStore(self._market_path, busy_timeout_s=self._busy_timeout_s)
        except PixityError as exc:
            self.fatal = str(exc)
            self._ready.set()
            return
        try:
            self._open_gap = self._find_open_gap()
            self._ready.set()
            self._loop(store)
        except PixityError as exc:
            self.fatal = f"{type(exc).__name__}: {exc}"
            self._health.fatal_error = self.fatal
            log.critical("flusher stopped: %s", exc, exc_info=True)
        finally:
            self._ready.set()
            store.close()
            with self._cond:
                self._cond.notify_all()

    def _find_open_gap(self) -> int | None:
        with MarketReader(self._market_path, busy_timeout_s=self._busy_timeout_s) as reader:
            open_gaps = reader.gaps(self._feed, open_only=True)
        return open_gaps[-1].gap_id if open_gaps else None

    def _loop(self, store: MarketStore) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            try:
                self._retry(store, item)
            finally:
                with self._cond:
                    self._inflight = False
                    if isinstance(item, Batch):
                        self._queued_ticks -= len(item.ticks)
                    self._cond.notify_all()

    def _next(self) -> Item | None:
        """Take the next item, merging consecutive batches; None when stopping and empty."""
        with self._cond:
            while not self._items:
                if self._stopping:
                    return None
                self._cond.wait(0.5)
            item = self._items.popleft()
            if isinstance(item, Batch):
                merged = Batch()
                merged.merge(item)
                while self._items and isinstance(self._items[0], Batch):
                    merged.merge(self._items.popleft())  # type: ignore[arg-type]
                item = merged
            self._inflight = True
            return item

    def _retry(self, store: MarketStore, item: Item) -> None:
        delay = 0.05
        while True:
            started = time.perf_counter()
            try:
                self._apply(store, item)
            except (PixityError, OSError, pa.ArrowException) as exc:
                if not _retryable(exc):
                    raise
                self._failed(item, exc)
            else:
                self._health.flushed((time.perf_counter() - started) * 1000)
                self._health.wal_bytes = store.wal_size_bytes()
                return
            if self._abort.wait(delay):
                return  # shutting down past its bound: the journal keeps the data
            delay = min(delay * 2, self._max_backoff_s)

    def _failed(self, item: Item, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if isinstance(item, RolloverJob):
            self._health.rollover_error = f"rollover of {item.day}: {message}"
        self._health.flush_failed(message)
        log.warning("flush of %s failed (will retry): %s", type(item).__name__, message)

    def _apply(self, store: MarketStore, item: Item) -> None:
        if isinstance(item, RolloverJob):
            self._roll_over(store, item)
            return
        if item.state is not None:
            self._sync_journal(self._live_dir / item.state.journal_file)
        store.write_rows(item.ticks, list(item.bars.values()), state=item.state)
        for event in item.gaps:
            self._apply_gap(store, event)
        if item.feed_status is not None:
            store.upsert_feed_status(item.feed_status)

    def _apply_gap(self, store: MarketStore, event: GapOpened | GapClosed) -> None:
        if isinstance(event, GapOpened):
            if self._open_gap is None:  # a gap already open keeps its earlier start
                gap = Gap(feed=self._feed, start=event.at, end=None, reason=event.reason)
                self._open_gap = store.record_gap(gap)
        elif self._open_gap is not None:
            store.close_gap(self._open_gap, event.at)
            self._open_gap = None

    @staticmethod
    def _sync_journal(path: Path) -> None:
        """Force the journal to disk before the position inside it is committed."""
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:  # retried like any store error; the message names the file
            raise StoreError(f"journal {path}: fsync failed: {exc}") from exc

    def _roll_over(self, store: MarketStore, job: RolloverJob) -> None:
        bars, ticks = store.session_frames(job.day)
        if len(bars):
            lake.write_bars(self._data_dir, bars)
        if len(ticks):
            lake.write_ticks(self._data_dir, ticks)
        store.roll_over_session(job.day)
        self._health.last_rollover = job.day.isoformat()
        self._health.rollover_error = None
        log.info(
            "session %s rolled over: %d bars, %d ticks to the lake", job.day, len(bars), len(ticks)
        )
