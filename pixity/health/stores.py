"""The stores' part of the health report: each store read once, read-only, briefly.

Every store is opened with its ``*Reader`` class (``mode=ro``, ``query_only``), read in one
short snapshot and closed again, so health never holds a transaction that would stop the WAL
from being checkpointed. Each store is its own I/O boundary: whatever goes wrong with one is
caught here and reported as that store's error, and the others are still read.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pixity.domain import WARMING_UP, RunnerStatus
from pixity.errors import PixityError, StoreMissingError
from pixity.stores.config import ConfigReader
from pixity.stores.market import MarketReader
from pixity.stores.paper import PaperReader
from pixity.stores.paths import StorePaths
from pixity.stores.signals import SignalReader
from pixity.stores.sqlite import SqliteReader

log = logging.getLogger(__name__)

# Health is a glance: a store that stays locked for longer than this is reported, not awaited.
HEALTH_BUSY_TIMEOUT_S = 1.0
SIGNALS_WINDOW = timedelta(days=1)
# Runners needing attention (STALE, ERROR) listed by name in the report; the rest are counted.
MAX_LISTED_RUNNERS = 10
ATTENTION = (RunnerStatus.STALE, RunnerStatus.ERROR)

R = TypeVar("R", bound=SqliteReader)


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """Which store a part is about, who writes it and how to start that writer."""

    key: str  # the prefix of the report's ``<key>_error``
    file: str
    writer: str
    command: str


MARKET = StoreInfo("market", "market.db", "ingest", "pixity ingest")
SIGNALS = StoreInfo("signals", "signals.db", "live session", "pixity live")
CONFIG = StoreInfo("config", "config.db", "live session", "pixity live")
PAPER = StoreInfo("paper", "paper.db", "live session", "pixity live")


@dataclass(slots=True)
class StorePart:
    """What the report takes from one store, or why it could not be read."""

    info: StoreInfo
    exists: bool = False
    readable: bool = False
    fields: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def read_store(
    info: StoreInfo,
    path: Path,
    open_reader: Callable[[Path], R],
    read: Callable[[R], dict[str, Any]],
    unknown: dict[str, Any],
) -> StorePart:
    """Open ``path`` with ``open_reader``, ``read`` it and close it; never raise.

    ``unknown`` holds the fields' values when the store cannot be read.
    """
    part = StorePart(info, fields=dict(unknown))
    try:
        with open_reader(path) as reader, reader.snapshot():
            values = read(reader)
    except StoreMissingError as exc:
        part.error = str(exc)
    except Exception as exc:  # this store's I/O boundary: report it, read the others
        log.debug("health: reading %s at %s failed", info.file, path, exc_info=True)
        part.exists = True
        part.error = _describe(exc)
    else:
        part.exists = part.readable = True
        part.fields.update(values)
    return part


def _describe(exc: BaseException) -> str:
    if isinstance(exc, PixityError):
        return str(exc)  # pixity's messages already name the store and the path
    return f"{type(exc).__name__}: {exc}"


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def read_market(paths: StorePaths) -> StorePart:
    """Read the live buffer: that it opens, its newest 1m bar and its open gaps."""

    def read(reader: MarketReader) -> dict[str, Any]:
        state = reader.ingest_state()
        return {
            "live_buffer_accessible": True,
            "last_bar_ts": _iso(reader.latest_bar_ts()),
            "open_gaps": len(reader.gaps(open_only=True)),
            # The feed's day (a replay at speed trades a past day): the paper day to show.
            "session_date": None if state is None else state.session_date.isoformat(),
        }

    unknown = {
        "live_buffer_accessible": False,
        "last_bar_ts": None,
        "open_gaps": None,
        "session_date": None,
    }
    return read_store(MARKET, paths.market, _opener(MarketReader), read, unknown)


def read_signals(paths: StorePaths, now: datetime) -> StorePart:
    """Count the signals written during the day before ``now``."""

    def read(reader: SignalReader) -> dict[str, Any]:
        # created_at has whole seconds: "at or after now - 1 day + 1 s" is "after now - 1 day".
        since = now.replace(microsecond=0) - SIGNALS_WINDOW + timedelta(seconds=1)
        return {"signals_count": reader.count_since(since)}

    return read_store(SIGNALS, paths.signals, _opener(SignalReader), read, {"signals_count": None})


def read_config(paths: StorePaths) -> StorePart:
    """Read runner_state: how many runners, by status, which need attention, last update."""

    def read(reader: ConfigReader) -> dict[str, Any]:
        stored = reader.runner_states()
        last = reader.last_update()
        counts = Counter(row.state.status for row in stored)
        attention = [row for row in stored if row.state.status in ATTENTION]
        warming = [
            row.state
            for row in stored
            if row.state.status is RunnerStatus.RUNNING
            and (row.state.last_error or "").startswith(WARMING_UP)
        ]
        session = reader.session_status()
        return {
            "session": None
            if session is None
            else {
                "session_date": session.session_date.isoformat(),
                "run_id": session.run_id,
                "status": session.status,
                "stop_reason": session.stop_reason,
                "bars_1m": session.bars_1m,
                "bars_15m": session.bars_15m,
                "late_bars": session.late_bars,
                "signals": session.signals,
                "strategy_errors": session.strategy_errors,
                "updated_at": _iso(session.updated_at),
            },
            "runners_warming": len(warming),
            "runners_warming_example": None
            if not warming
            else (f"{warming[0].symbol}/{warming[0].strategy_id}: {warming[0].last_error}"),
            "runner_state_count": len(stored),
            "last_runner_update": _iso(last),
            "runners": {status.value: counts[status] for status in RunnerStatus},
            "runners_attention": [
                {
                    "symbol": row.state.symbol,
                    "strategy_id": row.state.strategy_id,
                    "status": row.state.status.value,
                    "last_error": row.state.last_error,
                    "updated_at": row.updated_at.isoformat(),
                }
                for row in attention[:MAX_LISTED_RUNNERS]
            ],
        }

    unknown: dict[str, Any] = {
        "session": None,
        "runner_state_count": None,
        "runners_warming": None,
        "runners_warming_example": None,
        "last_runner_update": None,
        "runners": None,
        "runners_attention": [],
    }
    return read_store(CONFIG, paths.config, _opener(ConfigReader), read, unknown)


def read_paper(paths: StorePaths, session_date: str) -> StorePart:
    """Read the paper P&L and kill state of ``session_date`` (YYYY-MM-DD)."""

    def read(reader: PaperReader) -> dict[str, Any]:
        pnl = reader.day_pnl(session_date)
        if pnl is None:
            return {"paper_session_date": session_date}
        return {
            "paper_session_date": session_date,
            "day_pnl": round(pnl.total, 2),
            "day_pnl_realised": round(pnl.realised, 2),
            "day_pnl_unrealised": round(pnl.unrealised, 2),
            "day_costs": round(pnl.costs, 2),
            "killed": pnl.killed,
            "kill_reason": pnl.kill_reason,
        }

    unknown: dict[str, Any] = {
        "paper_session_date": session_date,
        "day_pnl": None,
        "day_pnl_realised": None,
        "day_pnl_unrealised": None,
        "day_costs": None,
        "killed": None,
        "kill_reason": None,
    }
    return read_store(PAPER, paths.paper, _opener(PaperReader), read, unknown)


def _opener(reader: Callable[..., R]) -> Callable[[Path], R]:
    def open_reader(path: Path) -> R:
        return reader(path, busy_timeout_s=HEALTH_BUSY_TIMEOUT_S)

    return open_reader
