"""``config.db``: one ``runner_state`` row per (symbol, strategy); written by the live session."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime

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

CONFIG = StoreSpec(
    name="config.db",
    writer="the live session (start `pixity live`)",
    migrations=(_V1,),
)

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
