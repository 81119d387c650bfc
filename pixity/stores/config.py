"""``config.db``: one ``runner_state`` row per (symbol, strategy), and one ``session_status`` row
per session day (what the live session counted: bars, late bars, signals, errors, how it
stopped); written by the live session."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date, datetime

from pixity.domain import Bias, RunnerState, RunnerStatus, SignalState
from pixity.markettime import format_ts, parse_at, parse_ts
from pixity.stores.sqlite import (
    DEFAULT_BUSY_TIMEOUT_S,
    Row,
    SqliteReader,
    SqliteWriter,
    StoreSpec,
    sql_migration,
)

logger = logging.getLogger(__name__)

_V1 = sql_migration(
    """CREATE TABLE runner_state (
        symbol TEXT NOT NULL,
        strategy_id TEXT NOT NULL,
        timeframe TEXT NOT NULL,
        current_bias TEXT NOT NULL CHECK (current_bias IN ('BUY', 'SELL', 'NEUTRAL')),
        signal_state TEXT NOT NULL CHECK (signal_state IN ('IDLE', 'SETUP', 'TRIGGERED')),
        last_bar_ts TEXT,
        status TEXT NOT NULL
            CHECK (status IN ('STARTING', 'RUNNING', 'STALE', 'STOPPED', 'ERROR')),
        last_error TEXT,
        created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        PRIMARY KEY (symbol, strategy_id)
    )""",
    "CREATE INDEX runner_state_by_strategy ON runner_state (strategy_id)",
)

# v2: the session's own status, so that health can show what only the session knows.
_V2 = sql_migration(
    """CREATE TABLE session_status (
        session_date TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('RUNNING', 'STOPPED', 'ERROR')),
        stop_reason TEXT,
        bars_1m INTEGER NOT NULL CHECK (bars_1m >= 0),
        bars_15m INTEGER NOT NULL CHECK (bars_15m >= 0),
        late_bars INTEGER NOT NULL CHECK (late_bars >= 0),
        signals INTEGER NOT NULL CHECK (signals >= 0),
        strategy_errors INTEGER NOT NULL CHECK (strategy_errors >= 0),
        started_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
    )""",
)

CONFIG = StoreSpec(
    name="config.db",
    writer="the live session (start `pixity live`)",
    migrations=(_V1, _V2),
    # A config.db of the release before session_status is still read (its runner_state is
    # all the scanner and health need) until the next session migrates it.
    oldest_readable=1,
)

SESSION_STATUSES = ("RUNNING", "STOPPED", "ERROR")

# The counts of a restarted session are its replay's, which recounts the day so far; late bars
# are not (the replay has every bar in time), so they are added to what earlier runs counted.
_UPSERT_SESSION = """
INSERT INTO session_status
    (session_date, run_id, status, stop_reason, bars_1m, bars_15m, late_bars, signals,
     strategy_errors)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (session_date) DO UPDATE SET
    run_id = excluded.run_id, status = excluded.status, stop_reason = excluded.stop_reason,
    bars_1m = excluded.bars_1m, bars_15m = excluded.bars_15m,
    late_bars = session_status.late_bars + excluded.late_bars, signals = excluded.signals,
    strategy_errors = excluded.strategy_errors, updated_at = CURRENT_TIMESTAMP
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStatus:
    """What a live session reports of one session day.

    Written, ``late_bars`` is how many more 1m bars came after their 15m bar had closed since
    the last write; read, it is the day's total.
    """

    session_date: date
    run_id: str
    status: str
    stop_reason: str | None = None
    bars_1m: int = 0
    bars_15m: int = 0
    late_bars: int = 0
    signals: int = 0
    strategy_errors: int = 0
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.session_date, date) or isinstance(self.session_date, datetime):
            raise ValueError(f"session_date must be a date, got {self.session_date!r}")
        if self.status not in SESSION_STATUSES:
            raise ValueError(f"session status {self.status!r} is not one of {SESSION_STATUSES}")


_UPSERT = """
INSERT INTO runner_state
    (symbol, strategy_id, timeframe, current_bias, signal_state, last_bar_ts, status, last_error)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (symbol, strategy_id) DO UPDATE SET
    timeframe = excluded.timeframe, current_bias = excluded.current_bias,
    signal_state = excluded.signal_state, last_bar_ts = excluded.last_bar_ts,
    status = excluded.status, last_error = excluded.last_error,
    updated_at = CURRENT_TIMESTAMP
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredRunnerState:
    """A runner state as stored, with the UTC time it was last written."""

    state: RunnerState
    updated_at: datetime


class ConfigStore(SqliteWriter):
    """The live session's writer of ``config.db``."""

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> None:
        super().__init__(path, CONFIG, busy_timeout_s=busy_timeout_s)

    def upsert_runner_state(self, state: RunnerState) -> None:
        """Store ``state`` as the current state of its (symbol, strategy) and stamp updated_at."""
        row = (
            state.symbol,
            state.strategy_id,
            state.timeframe,
            state.current_bias.value,
            state.signal_state.value,
            None if state.last_bar_ts is None else format_ts(state.last_bar_ts),
            state.status.value,
            state.last_error,
        )
        with self.transaction(f"upsert runner state {state.symbol}/{state.strategy_id}") as conn:
            conn.execute(_UPSERT, row)

    def upsert_session_status(self, status: SessionStatus) -> None:
        """Store the session day's status (``late_bars`` added to the day's count)."""
        row = (
            status.session_date.isoformat(),
            status.run_id,
            status.status,
            status.stop_reason,
            status.bars_1m,
            status.bars_15m,
            status.late_bars,
            status.signals,
            status.strategy_errors,
        )
        with self.transaction(f"upsert session status {status.session_date}") as conn:
            conn.execute(_UPSERT_SESSION, row)


def _stored_state_of(row: Row) -> StoredRunnerState:
    symbol, strategy_id, timeframe, bias, signal_state, last_bar_ts, status, last_error = row[:8]
    return StoredRunnerState(
        state=RunnerState(
            symbol=symbol,
            strategy_id=strategy_id,
            timeframe=timeframe,
            current_bias=Bias(bias),
            signal_state=SignalState(signal_state),
            last_bar_ts=None if last_bar_ts is None else parse_ts(last_bar_ts),
            status=RunnerStatus(status),
            last_error=last_error,
        ),
        updated_at=parse_at(row[8]),
    )


class ConfigReader(SqliteReader):
    """A read-only view of ``config.db`` for the scanner and health."""

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> None:
        super().__init__(path, CONFIG, busy_timeout_s=busy_timeout_s)

    def runner_states(self, strategy_id: str | None = None) -> list[StoredRunnerState]:
        """Return runner states by strategy and symbol, for one strategy or all."""
        sql = (
            "SELECT symbol, strategy_id, timeframe, current_bias, signal_state, last_bar_ts, "
            "status, last_error, updated_at FROM runner_state"
        )
        params: tuple[object, ...] = ()
        if strategy_id is not None:
            sql += " WHERE strategy_id = ?"
            params = (strategy_id,)
        sql += " ORDER BY strategy_id, symbol"
        return self._rows("runner_state", sql, params, _stored_state_of)

    def last_update(self) -> datetime | None:
        """Return the latest ``updated_at`` of any runner (UTC), or None if there is none."""
        rows = self._fetch("read last runner update", "SELECT MAX(updated_at) FROM runner_state")
        return None if rows[0][0] is None else parse_at(rows[0][0])

    def session_status(self) -> SessionStatus | None:
        """Return the latest session day's status, or None if no session has written one.

        None too for a store of schema version 1, which has no session_status yet.
        """
        (version,) = self._fetch("read schema version", "PRAGMA user_version")[0]
        if int(version) < 2:
            return None
        sql = (
            "SELECT session_date, run_id, status, stop_reason, bars_1m, bars_15m, late_bars, "
            "signals, strategy_errors, updated_at FROM session_status "
            "ORDER BY session_date DESC LIMIT 1"
        )
        rows = self._rows("session_status", sql, (), _session_status_of)
        return rows[0] if rows else None


def _session_status_of(row: Row) -> SessionStatus:
    day, run_id, status, reason, bars_1m, bars_15m, late, signals, errors, updated = row
    return SessionStatus(
        session_date=date.fromisoformat(day),
        run_id=run_id,
        status=status,
        stop_reason=reason,
        bars_1m=int(bars_1m),
        bars_15m=int(bars_15m),
        late_bars=int(late),
        signals=int(signals),
        strategy_errors=int(errors),
        updated_at=parse_at(updated),
    )
