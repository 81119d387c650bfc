"""The scanner's SQL: set-based, one statement per question whatever the number of symbols.

Per-symbol answers (a symbol's first and last 1m bar of the day, a runner's last signal)
come from correlated subqueries over the keys passed in as one JSON array, so each key is a
few index seeks on the table's primary or unique key, not a scan of the day's rows and not
a query per symbol.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from pixity.domain import DayPnl
from pixity.errors import DataIntegrityError
from pixity.markettime import IST, format_ts
from pixity.scanner.columns import stored_times
from pixity.stores.config import ConfigReader
from pixity.stores.market import IngestState, MarketReader
from pixity.stores.paper import PaperReader
from pixity.stores.signals import SignalReader
from pixity.stores.sqlite import Row, SqliteReader, sqlite_errors

Key = tuple[str, str]  # (strategy_id, symbol)

RECENT_SIGNALS = 50


@dataclass(frozen=True, slots=True)
class DayBounds:
    """A session day as the ``*_ts`` text range [start, end)."""

    day: date
    start: str
    end: str

    @classmethod
    def of(cls, day: date) -> DayBounds:
        """Return the bounds of ``day`` (IST midnight to midnight)."""
        midnight = datetime.combine(day, time(0), tzinfo=IST)
        return cls(day, format_ts(midnight), format_ts(midnight + timedelta(days=1)))


# Which result columns hold times, checked as they are read: (index, True for a market-time
# ``*_ts``, False for a UTC ``*_at``). A time in any other form is a data-integrity error of
# its store, reported as such, never a failure later while the frame is built.
Times = tuple[tuple[int, bool], ...]


def fetch(
    reader: SqliteReader, operation: str, sql: str, params: object = (), *, times: Times = ()
) -> list[Row]:
    """Run one read on ``reader``'s connection, with the store's name in any error."""
    where = f"{reader.spec.name} ({reader.path})"
    with sqlite_errors(where, operation, reader.timeout_s):
        rows = reader.connection.execute(sql, params).fetchall()  # type: ignore[arg-type]
    for index, ist in times:
        _check_times(rows, index, ist, f"{where}: {operation}")
    return rows


def _check_times(rows: list[Row], index: int, ist: bool, where: str) -> None:
    try:
        stored_times([row[index] for row in rows], ist)
    except (TypeError, ValueError):
        for row in rows:
            try:
                stored_times([row[index]], ist)
            except (TypeError, ValueError):
                form = "YYYY-MM-DD HH:MM:SS+05:30" if ist else "YYYY-MM-DD HH:MM:SS (UTC)"
                raise DataIntegrityError(
                    f"{where}: time {row[index]!r} is not {form}, in row {row!r}"
                ) from None
        raise DataIntegrityError(
            f"{where}: column {index} holds times not in the stored form"
        ) from None


# ------------------------------------------------------------------ config.db

RUNNER_FIELDS = (
    "symbol",
    "strategy_id",
    "status",
    "timeframe",
    "last_bar_ts",
    "current_bias",
    "signal_state",
    "updated_at",
    "last_error",
)


def runner_rows(reader: ConfigReader) -> list[Row]:
    """Return every runner_state row (``RUNNER_FIELDS``), by strategy and symbol."""
    sql = f"SELECT {', '.join(RUNNER_FIELDS)} FROM runner_state ORDER BY strategy_id, symbol"
    return fetch(reader, "read runner_state", sql, times=((4, True), (7, False)))


# ------------------------------------------------------------------ market.db


@dataclass(frozen=True, slots=True)
class DayPrice:
    """A symbol's day so far in the live buffer: first open, last close and its bar time."""

    first_open: float
    last_price: float
    last_ts: str | None


# Two covering seeks on the primary key per symbol find the rowids of its first and last bar
# of the day; two rowid lookups then read them.
_DAY_PRICES = """
SELECT s.value, f.open, l.close, l.bar_ts
FROM json_each(:symbols) AS s
LEFT JOIN bars_1m AS l ON l.rowid = (
  SELECT b.rowid FROM bars_1m AS b
  WHERE b.symbol = s.value AND b.bar_ts >= :start AND b.bar_ts < :end
  ORDER BY b.bar_ts DESC LIMIT 1)
LEFT JOIN bars_1m AS f ON f.rowid = (
  SELECT b.rowid FROM bars_1m AS b
  WHERE b.symbol = s.value AND b.bar_ts >= :start AND b.bar_ts < :end
  ORDER BY b.bar_ts LIMIT 1)
"""


def ingest_state(reader: MarketReader) -> IngestState | None:
    """Return the ingest's state for its latest day, or None before its first commit."""
    return reader.ingest_state()


def day_prices(
    reader: MarketReader, symbols: Sequence[str], bounds: DayBounds
) -> dict[str, DayPrice]:
    """Return each of ``symbols``' first open and last close (forming bar included) of the day."""
    params = {"start": bounds.start, "end": bounds.end, "symbols": json.dumps(list(symbols))}
    rows = fetch(reader, f"read prices of {bounds.day}", _DAY_PRICES, params, times=((3, True),))
    return {
        symbol: DayPrice(float(first), float(last), str(ts))
        for symbol, first, last, ts in rows
        if ts is not None
    }


# ------------------------------------------------------------------ signals.db

SignalRow = tuple[str, float, str, str]  # signal_type, confidence, bar_ts, status

# A runner's last signal is the one on its newest bar; rowid (write order) breaks a tie
# between two signals on one bar.
_LAST_SIGNALS = """
SELECT json_extract(k.value, '$[0]'), json_extract(k.value, '$[1]'),
       s.signal_type, s.confidence, s.bar_ts, s.status
FROM json_each(:keys) AS k
JOIN signals AS s ON s.rowid = (
  SELECT x.rowid FROM signals AS x
  WHERE x.strategy_id = json_extract(k.value, '$[0]') AND x.symbol = json_extract(k.value, '$[1]')
  ORDER BY x.bar_ts DESC, x.rowid DESC LIMIT 1)
"""


def last_signals(reader: SignalReader, keys: Sequence[Key]) -> dict[Key, SignalRow]:
    """Return the last signal of each (strategy_id, symbol) in ``keys`` that has one."""
    params = {"keys": json.dumps(list(keys))}
    rows = fetch(reader, "read last signals", _LAST_SIGNALS, params, times=((4, True),))
    return {(row[0], row[1]): (row[2], row[3], row[4], row[5]) for row in rows}


_SIGNAL_COLUMNS = "signal_id, signal_type, confidence, bar_ts, status, status_reason, created_at"
_SIGNAL_TIMES: Times = ((3, True), (6, False))


def recent_signals(reader: SignalReader, key: Key, limit: int = RECENT_SIGNALS) -> list[Row]:
    """Return up to ``limit`` signals of one runner, newest bar first."""
    sql = (
        f"SELECT {_SIGNAL_COLUMNS} FROM signals WHERE strategy_id = ? AND symbol = ? "
        "ORDER BY bar_ts DESC, rowid DESC LIMIT ?"
    )
    operation = f"read signals of {key[0]}/{key[1]}"
    return fetch(reader, operation, sql, (*key, limit), times=_SIGNAL_TIMES)


def day_signals(reader: SignalReader, key: Key, bounds: DayBounds) -> list[Row]:
    """Return one runner's signals on bars of the day, oldest first (to mark a chart)."""
    sql = (
        f"SELECT {_SIGNAL_COLUMNS} FROM signals WHERE strategy_id = ? AND symbol = ? "
        "AND bar_ts >= ? AND bar_ts < ? ORDER BY bar_ts, rowid"
    )
    params = (*key, bounds.start, bounds.end)
    operation = f"read signals of {key[0]}/{key[1]} on {bounds.day}"
    return fetch(reader, operation, sql, params, times=_SIGNAL_TIMES)


# ------------------------------------------------------------------ paper.db

PositionRow = tuple[int, float | None, float]  # quantity, avg_price, realised_pnl


def day_positions(reader: PaperReader, bounds: DayBounds) -> dict[Key, PositionRow]:
    """Return the positions last changed on the day (earlier days' rows are not today's)."""
    sql = (
        "SELECT strategy_id, symbol, quantity, avg_price, realised_pnl FROM positions "
        "WHERE ts >= ? AND ts < ?"
    )
    rows = fetch(reader, f"read positions of {bounds.day}", sql, (bounds.start, bounds.end))
    return {(row[0], row[1]): (int(row[2]), row[3], float(row[4])) for row in rows}


def day_pnl(reader: PaperReader, bounds: DayBounds) -> DayPnl | None:
    """Return the day's stored P&L and kill state, or None if none is stored yet."""
    return reader.day_pnl(bounds.day.isoformat())


def day_fills(reader: PaperReader, symbol: str, bounds: DayBounds) -> list[Row]:
    """Return the day's fills of ``symbol`` (any strategy), newest first."""
    sql = (
        "SELECT f.fill_id, f.order_id, o.strategy_id, f.side, f.quantity, f.price, f.costs, "
        "f.ts FROM fills AS f LEFT JOIN orders AS o ON o.order_id = f.order_id "
        "WHERE f.symbol = ? AND f.ts >= ? AND f.ts < ? ORDER BY f.ts DESC, f.rowid DESC"
    )
    params = (symbol, bounds.start, bounds.end)
    return fetch(reader, f"read fills of {symbol} on {bounds.day}", sql, params, times=((7, True),))
