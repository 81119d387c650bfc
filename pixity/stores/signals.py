"""``signals.db``: every signal a strategy emitted, with its status; written by the live session."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime

from pixity.domain import Signal, SignalStatus, SignalType
from pixity.errors import InvalidValueError, StoreError
from pixity.markettime import format_at, format_ts, parse_at, parse_ts
from pixity.stores.sqlite import (
    DEFAULT_BUSY_TIMEOUT_S,
    Row,
    SqliteReader,
    SqliteWriter,
    StoreSpec,
    sql_migration,
    where_clause,
)

logger = logging.getLogger(__name__)

# bar_ts must be market time with its offset: the old pipeline's NULL bar_ts cannot recur.
_V1 = sql_migration(
    """CREATE TABLE signals (
        signal_id TEXT PRIMARY KEY,
        strategy_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        signal_type TEXT NOT NULL CHECK (signal_type IN ('BUY', 'SELL', 'EXIT')),
        confidence REAL NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
        bar_ts TEXT NOT NULL CHECK (bar_ts GLOB
            '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]+05:30'),
        status TEXT NOT NULL DEFAULT 'PENDING'
            CHECK (status IN ('PENDING', 'FILLED', 'REJECTED')),
        status_reason TEXT,
        created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        UNIQUE (strategy_id, symbol, bar_ts, signal_type)
    )""",
    "CREATE INDEX signals_by_created ON signals (created_at)",
    "CREATE INDEX signals_by_strategy ON signals (strategy_id, created_at)",
)

SIGNALS = StoreSpec(
    name="signals.db",
    writer="the live session (start `pixity live`)",
    migrations=(_V1,),
)

DEFAULT_LIMIT = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSignal:
    """A signal as stored: the signal, its status and reason, and when the row was written."""

    signal: Signal
    status: SignalStatus
    status_reason: str | None
    created_at: datetime
    updated_at: datetime


class SignalStore(SqliteWriter):
    """The live session's writer of ``signals.db``."""

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> None:
        super().__init__(path, SIGNALS, busy_timeout_s=busy_timeout_s)

    def save_signal(self, signal: Signal) -> bool:
        """Store ``signal`` as PENDING; return False if it (or its twin) was already stored."""
        row = (
            signal.signal_id,
            signal.strategy_id,
            signal.symbol,
            signal.signal_type.value,
            signal.confidence,
            format_ts(signal.timestamp),
        )
        with self.transaction(f"save signal {signal.signal_id}") as conn:
            inserted = conn.execute(
                "INSERT INTO signals "
                "(signal_id, strategy_id, symbol, signal_type, confidence, bar_ts) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                row,
            ).rowcount
        if not inserted:
            logger.debug("signal %s already stored (%s)", signal.signal_id, row[5])
        return inserted == 1

    def set_status(self, signal_id: str, status: SignalStatus, reason: str | None) -> None:
        """Set the status of stored signal ``signal_id``; a REJECTED one needs a reason."""
        if not isinstance(status, SignalStatus):
            raise InvalidValueError(f"status {status!r} must be a SignalStatus")
        if status is SignalStatus.REJECTED and not reason:
            raise InvalidValueError(f"rejecting signal {signal_id} needs a reason")
        with self.transaction(f"set status of signal {signal_id}") as conn:
            changed = conn.execute(
                "UPDATE signals SET status = ?, status_reason = ?, updated_at = CURRENT_TIMESTAMP "
                "WHERE signal_id = ?",
                (status.value, reason, signal_id),
            ).rowcount
        if not changed:
            raise StoreError(f"signals.db ({self.path}): no signal {signal_id} to set {status}")


_COLUMNS = (
    "signal_id, strategy_id, symbol, signal_type, confidence, bar_ts, "
    "status, status_reason, created_at, updated_at"
)


def _stored_signal_of(row: Row) -> StoredSignal:
    signal_id, strategy_id, symbol, signal_type, confidence, bar_ts = row[:6]
    status, status_reason, created_at, updated_at = row[6:]
    return StoredSignal(
        signal=Signal(
            signal_id=signal_id,
            strategy_id=strategy_id,
            symbol=symbol,
            timestamp=parse_ts(bar_ts),
            signal_type=SignalType(signal_type),
            confidence=confidence,
        ),
        status=SignalStatus(status),
        status_reason=status_reason,
        created_at=parse_at(created_at),
        updated_at=parse_at(updated_at),
    )


class SignalReader(SqliteReader):
    """A read-only view of ``signals.db`` for the scanner and health."""

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> None:
        super().__init__(path, SIGNALS, busy_timeout_s=busy_timeout_s)

    def recent(
        self,
        strategy_id: str | None = None,
        symbol: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> list[StoredSignal]:
        """Return up to ``limit`` signals, newest row first."""
        conds: list[str] = []
        params: list[object] = []
        if strategy_id is not None:
            conds.append("strategy_id = ?")
            params.append(strategy_id)
        if symbol is not None:
            conds.append("symbol = ?")
            params.append(symbol)
        # rowid breaks ties between rows written in the same second.
        sql = (
            f"SELECT {_COLUMNS} FROM signals {where_clause(conds)} "
            "ORDER BY created_at DESC, rowid DESC LIMIT ?"
        )
        return self._rows("signals", sql, [*params, limit], _stored_signal_of)

    def get(self, signal_id: str) -> StoredSignal | None:
        """Return stored signal ``signal_id``, or None."""
        sql = f"SELECT {_COLUMNS} FROM signals WHERE signal_id = ?"
        found = self._rows("signals", sql, (signal_id,), _stored_signal_of)
        return found[0] if found else None

    def count_since(self, since: datetime) -> int:
        """Return how many signals were written at or after wall-clock time ``since``."""
        rows = self._fetch(
            "count signals",
            "SELECT COUNT(*) FROM signals WHERE created_at >= ?",
            (format_at(since),),
        )
        return int(rows[0][0])
