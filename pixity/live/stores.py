"""The live session's stores: the writers it owns, the live buffer it reads, and its lock.

The live session is the one writer of signals.db, config.db and paper.db. ``SessionLock``
makes that true across processes: a second session on the same data directory is refused
(after a bounded wait, so that a session killed a moment ago can be replaced), never allowed
to write beside the first.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from pixity.broker.paper import PaperBroker
from pixity.broker.risk import DAILY_LOSS_KILL
from pixity.domain import SignalStatus
from pixity.errors import ConfigError, StoreMissingError
from pixity.markettime import session_open
from pixity.stores.config import ConfigStore
from pixity.stores.market import MarketReader
from pixity.stores.paper import PaperReader, PaperStore
from pixity.stores.paths import StorePaths
from pixity.stores.signals import SignalReader, SignalStore

log = logging.getLogger(__name__)

LOCK_NAME = "live_session.lock"


class SessionLock:
    """An exclusive, process-wide lock on a data directory's live-session stores.

    Held through the OS (``flock``/``msvcrt``), so it is released when the process dies,
    however it dies.
    """

    def __init__(self, data_dir: Path, *, wait_s: float = 30.0) -> None:
        self.path = StorePaths(data_dir).runs / LOCK_NAME
        self.wait_s = wait_s
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait_s``; raise ConfigError naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # held open for the session: the OS lock lives on it
        deadline = time.monotonic() + self.wait_s
        while not _try_lock(handle):
            if time.monotonic() >= deadline:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                handle.close()
                raise ConfigError(
                    f"another live session (pid {holder}) is writing {self.path.parent.parent}: "
                    "stop it first, or use another --data-dir"
                )
            time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Let the lock go."""
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the OS lock
            self._file = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _try_lock(handle: IO[str]) -> bool:
    try:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
    except OSError:
        return False
    return True


class SessionStores:
    """Open the session's writers; open the live buffer read-only once it exists."""

    def __init__(self, data_dir: Path) -> None:
        self.paths = StorePaths(data_dir)
        self.signals = SignalStore(self.paths.signals)
        self.config = ConfigStore(self.paths.config)
        self.paper = PaperStore(self.paths.paper)
        self._market: MarketReader | None = None

    def market_reader(self) -> MarketReader:
        """Return the read-only live buffer (StoreMissingError until the ingest created it)."""
        if self._market is None:
            self._market = MarketReader(self.paths.market)
        return self._market

    def ingest_session_date(self) -> date | None:
        """Return the day the ingest is on, or None while it has not committed anything."""
        try:
            state = self.market_reader().ingest_state()
        except StoreMissingError:
            return None
        return None if state is None else state.session_date

    def restore_broker(self, broker: PaperBroker, day: date) -> None:
        """Give ``broker`` the orders, fills, positions and day P&L already stored for ``day``."""
        reader = PaperReader(self.paths.paper)
        try:
            prefix = day.isoformat()
            orders = [o for o in reader.orders() if o.ts.date().isoformat() == prefix]
            fills = [f for f in reader.fills() if f.ts.date().isoformat() == prefix]
            positions = [p for p in reader.positions() if p.ts.date().isoformat() == prefix]
            kills = [
                e.ts
                for e in reader.risk_events(since=session_open(day))
                if e.kind == DAILY_LOSS_KILL and e.ts.date() == day
            ]
            broker.restore(
                orders=orders,
                fills=fills,
                positions=positions,
                day_pnl=reader.day_pnl(prefix),
                kill_ts=min(kills, default=None),
            )
        finally:
            reader.close()
        if orders:
            log.info("restored %d orders and %d fills of %s", len(orders), len(fills), day)
        self._record_lost_outcomes(broker)

    def _record_lost_outcomes(self, broker: PaperBroker) -> None:
        """Set the status of each signal still PENDING although its orders are final.

        paper.db holds the orders and signals.db the signals' outcomes: a crash after an
        order's last write and before its signal's leaves the signal PENDING for ever, since
        the restored broker counts it as told.
        """
        reader = SignalReader(self.paths.signals)
        try:
            for outcome in broker.settled_signals():
                stored = reader.get(outcome.signal_id)
                if stored is not None and stored.status is SignalStatus.PENDING:
                    log.warning(
                        "signal %s was stored PENDING although its orders are final: %s",
                        outcome.signal_id,
                        outcome.status.value,
                    )
                    self.signals.set_status(outcome.signal_id, outcome.status, outcome.reason)
        finally:
            reader.close()

    def close(self) -> None:
        """Close every store."""
        for store in (self.signals, self.config, self.paper, self._market):
            if store is not None:
                store.close()
