"""The live buffer ``market.db``: ticks, 1m bars, feed status and gaps; written by ingest only."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import orjson
import pandas as pd

from pixity.domain import Bar, FeedState, FeedStatus, Gap, Tick, TickRow, tick_row
from pixity.errors import DataIntegrityError, InvalidValueError, StoreError
from pixity.frames import conform_bars_frame, conform_ticks_frame
from pixity.markettime import (
    format_at,
    format_ts,
    from_epoch_ms,
    parse_at,
    parse_ts,
    session_open,
    to_epoch_ms,
)
from pixity.stores.sqlite import (
    DEFAULT_BUSY_TIMEOUT_S,
    Row,
    SqliteReader,
    SqliteWriter,
    StoreSpec,
    placeholders,
    sql_migration,
    where_clause,
)

logger = logging.getLogger(__name__)

_V1 = sql_migration(
    """CREATE TABLE ticks (
        symbol TEXT NOT NULL,
        ltt INTEGER NOT NULL,
        ltp REAL NOT NULL CHECK (ltp > 0),
        ltq INTEGER NOT NULL CHECK (ltq >= 0),
        vtt INTEGER CHECK (vtt IS NULL OR vtt >= 0),
        seq INTEGER NOT NULL CHECK (seq >= 0),
        volume INTEGER NOT NULL CHECK (volume >= 0),
        PRIMARY KEY (symbol, ltt, seq)
    )""",
    """CREATE TABLE bars_1m (
        symbol TEXT NOT NULL,
        bar_ts TEXT NOT NULL,
        open REAL NOT NULL,
        high REAL NOT NULL,
        low REAL NOT NULL,
        close REAL NOT NULL,
        volume INTEGER NOT NULL CHECK (volume >= 0),
        tick_count INTEGER NOT NULL CHECK (tick_count >= 0),
        closed INTEGER NOT NULL CHECK (closed IN (0, 1)),
        updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        PRIMARY KEY (symbol, bar_ts),
        CHECK (low <= open AND open <= high AND low <= close AND close <= high)
    )""",
    "CREATE INDEX bars_1m_by_ts ON bars_1m (bar_ts)",
    """CREATE TABLE feed_status (
        feed TEXT PRIMARY KEY,
        connected INTEGER NOT NULL CHECK (connected IN (0, 1)),
        status TEXT NOT NULL
            CHECK (status IN ('CONNECTING', 'CONNECTED', 'DISCONNECTED', 'STOPPED')),
        last_tick_ts TEXT,
        last_message_at TEXT,
        reconnects INTEGER NOT NULL CHECK (reconnects >= 0),
        last_error TEXT,
        updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
    )""",
    """CREATE TABLE gaps (
        gap_id INTEGER PRIMARY KEY AUTOINCREMENT,
        feed TEXT NOT NULL,
        start_ts TEXT NOT NULL,
        end_ts TEXT CHECK (end_ts IS NULL OR end_ts >= start_ts),
        reason TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        UNIQUE (feed, start_ts)
    )""",
)

# Version 2: where ingest stands in its day's journal, committed with the rows it produced.
_V2 = sql_migration(
    """CREATE TABLE ingest_state (
        session_date TEXT PRIMARY KEY CHECK (session_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
        journal_file TEXT NOT NULL,
        journal_offset INTEGER NOT NULL CHECK (journal_offset >= 0),
        next_seq INTEGER NOT NULL CHECK (next_seq >= 0),
        feed_clock_ms INTEGER CHECK (feed_clock_ms IS NULL OR feed_clock_ms >= 0),
        rolled_over_at TEXT,
        updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
    )""",
)

# Version 3: the ticks' key leads with ``seq``, which grows with every accepted tick, so each
# insert appends to the end of the key's B-tree instead of landing among one symbol's rows
# (with hundreds of symbols that made a tick's insert over twice as dear). The key holds the
# same three columns, so it refuses exactly the same duplicates; rowids are kept. Lookups by
# symbol now scan the day's ticks, which only a restart (restore) and tools do.
_TICKS_V3 = """CREATE TABLE ticks_v3 (
        symbol TEXT NOT NULL,
        ltt INTEGER NOT NULL,
        ltp REAL NOT NULL CHECK (ltp > 0),
        ltq INTEGER NOT NULL CHECK (ltq >= 0),
        vtt INTEGER CHECK (vtt IS NULL OR vtt >= 0),
        seq INTEGER NOT NULL CHECK (seq >= 0),
        volume INTEGER NOT NULL CHECK (volume >= 0),
        PRIMARY KEY (seq, symbol, ltt)
    )"""
_V3 = sql_migration(
    _TICKS_V3,
    "INSERT INTO ticks_v3 (rowid, symbol, ltt, ltp, ltq, vtt, seq, volume) "
    "SELECT rowid, symbol, ltt, ltp, ltq, vtt, seq, volume FROM ticks",
    "DROP TABLE ticks",
    "ALTER TABLE ticks_v3 RENAME TO ticks",
)

MARKET = StoreSpec(
    name="market.db",
    writer="the ingest loop (start `pixity ingest`)",
    migrations=(_V1, _V2, _V3),
    oldest_readable=2,  # v3 changed only the ticks' key: a v2 buffer reads the same
)


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestState:
    """Where ingest stands in one session day: committed in the same transaction as its rows.

    ``journal_offset`` is the end of the last journal record whose ticks and bars are stored;
    ``next_seq`` the ``seq`` the next accepted tick gets; ``feed_clock_ms`` the feed's clock
    (epoch ms) at that point; ``rolled_over`` whether the day has gone to the history lake.
    """

    session_date: date
    journal_file: str
    journal_offset: int
    next_seq: int
    feed_clock_ms: int | None
    rolled_over: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.session_date, date) or isinstance(self.session_date, datetime):
            raise InvalidValueError(f"session_date {self.session_date!r} must be a date")
        if not self.journal_file:
            raise InvalidValueError("ingest state needs a journal_file")
        for name in ("journal_offset", "next_seq"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidValueError(f"ingest state {name} {value!r} must be an int >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredFeedStatus:
    """A feed status as stored, with the UTC time it was last written."""

    status: FeedStatus
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredGap:
    """A gap as stored: its id (to close it) and the UTC time it was recorded."""

    gap_id: int
    gap: Gap
    created_at: datetime


def _json_columns(count: int) -> str:
    return ", ".join(f"json_extract(value, '$[{i}]')" for i in range(count))


# Rows go in as ONE JSON array per statement, not through executemany: executemany releases
# and retakes the GIL around every row, and while the ingest's event loop keeps the GIL busy
# each retake waits a whole switch interval (5 ms), which starved the writer thread to a few
# hundred rows a second. One statement over json_each is one GIL release for the whole batch.
# (WHERE true: SQLite needs it to parse INSERT ... SELECT ... ON CONFLICT.)
_UPSERT_BAR = f"""
INSERT INTO bars_1m (symbol, bar_ts, open, high, low, close, volume, tick_count, closed)
SELECT {_json_columns(9)} FROM json_each(?) WHERE true
ON CONFLICT (symbol, bar_ts) DO UPDATE SET
    open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
    volume = excluded.volume, tick_count = excluded.tick_count, closed = excluded.closed,
    updated_at = CURRENT_TIMESTAMP
WHERE bars_1m.closed = 0
  AND (excluded.closed = 1 OR excluded.tick_count >= bars_1m.tick_count)
"""
# A closed bar is final. A forming bar gives way to a closed one or to a forming one with at
# least as many ticks, so a replayed older batch cannot roll a bar back.

_INSERT_TICK = f"""
INSERT INTO ticks (symbol, ltt, ltp, ltq, vtt, seq, volume)
SELECT {_json_columns(7)} FROM json_each(?) WHERE true
ON CONFLICT DO NOTHING
"""
# ON CONFLICT DO NOTHING rather than INSERT OR IGNORE: OR IGNORE would also drop rows that
# break a CHECK or NOT NULL constraint without a word.

_UPSERT_FEED = """
INSERT INTO feed_status
    (feed, connected, status, last_tick_ts, last_message_at, reconnects, last_error)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (feed) DO UPDATE SET
    connected = excluded.connected, status = excluded.status,
    last_tick_ts = excluded.last_tick_ts, last_message_at = excluded.last_message_at,
    reconnects = excluded.reconnects, last_error = excluded.last_error,
    updated_at = CURRENT_TIMESTAMP
"""

_RECORD_GAP = """
INSERT INTO gaps (feed, start_ts, end_ts, reason) VALUES (?, ?, ?, ?)
ON CONFLICT (feed, start_ts) DO UPDATE SET end_ts = COALESCE(gaps.end_ts, excluded.end_ts)
RETURNING gap_id
"""


_UPSERT_STATE = """
INSERT INTO ingest_state
    (session_date, journal_file, journal_offset, next_seq, feed_clock_ms, rolled_over_at)
VALUES (?, ?, ?, ?, ?, CASE WHEN ? THEN CURRENT_TIMESTAMP END)
ON CONFLICT (session_date) DO UPDATE SET
    journal_file = excluded.journal_file, journal_offset = excluded.journal_offset,
    next_seq = excluded.next_seq, feed_clock_ms = excluded.feed_clock_ms,
    rolled_over_at = COALESCE(ingest_state.rolled_over_at, excluded.rolled_over_at),
    updated_at = CURRENT_TIMESTAMP
"""


def _state_row(state: IngestState) -> tuple[object, ...]:
    return (
        state.session_date.isoformat(),
        state.journal_file,
        state.journal_offset,
        state.next_seq,
        state.feed_clock_ms,
        int(state.rolled_over),
    )


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    """Return [00:00, next 00:00) IST of ``day``: every row of that session day lies inside."""
    start = session_open(day).replace(hour=0, minute=0)
    return start, start + timedelta(days=1)


def _opt_ts(when: datetime | None) -> str | None:
    return None if when is None else format_ts(when)


def _json_array(rows: Sequence[Sequence[object]]) -> str:
    """Return ``rows`` as the JSON array that ``json_each`` reads in one statement.

    orjson writes the same shortest round-trip numbers as ``json`` an order of magnitude
    faster; this runs in the flusher thread while it holds the GIL the feed loop needs, once
    per flush over every row. What orjson refuses (an int past 64 bits, say) goes through
    ``json``, as all rows did before, so the table's constraints judge it, not the encoder.
    """
    try:
        # text, not bytes: SQLite would take a BLOB for JSONB (3.45+) or refuse it
        return orjson.dumps(rows, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except orjson.JSONEncodeError:
        return json.dumps(rows)


def _bar_row(bar: Bar) -> tuple[object, ...]:
    if bar.minutes != 1:
        raise InvalidValueError(
            f"bars_1m holds 1-minute bars; got a {bar.timeframe} bar {bar.symbol} {bar.ts}"
        )
    return (
        bar.symbol,
        format_ts(bar.ts),
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
        bar.tick_count,
        int(bar.closed),
    )


class MarketStore(SqliteWriter):
    """The ingest process's writer of ``market.db``."""

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> None:
        super().__init__(path, MARKET, busy_timeout_s=busy_timeout_s)

    def write_batch(
        self, ticks: Sequence[Tick], bars: Sequence[Bar], *, state: IngestState | None = None
    ) -> int:
        """Append ``ticks``, upsert 1m ``bars`` and ``state`` in one transaction; return ticks added.

        Tick times are stored as epoch milliseconds (the feed's precision). Replaying a batch
        adds nothing. ``state`` (ingest's journal position) commits with the rows it covers.
        """
        return self.write_rows([tick_row(tick) for tick in ticks], bars, state=state)

    def write_rows(
        self,
        tick_rows: Sequence[TickRow],
        bars: Sequence[Bar],
        *,
        state: IngestState | None = None,
    ) -> int:
        """``write_batch`` for ticks given as their rows (``TickRow``), as the ingest makes them.

        The rows' values must be what a ``Tick`` accepts (the ingest's validator makes sure of
        it); the table's constraints refuse the rest, and the whole transaction with them.
        """
        bar_rows = [_bar_row(bar) for bar in bars]
        if not tick_rows and not bar_rows and state is None:
            return 0
        ticks_json = _json_array(tick_rows) if tick_rows else None
        bars_json = _json_array(bar_rows) if bar_rows else None
        with self.transaction(f"write {len(tick_rows)} ticks, {len(bar_rows)} bars") as conn:
            added = conn.execute(_INSERT_TICK, (ticks_json,)).rowcount if ticks_json else 0
            if bars_json:
                conn.execute(_UPSERT_BAR, (bars_json,))
            if state is not None:
                conn.execute(_UPSERT_STATE, _state_row(state))
        return added

    def session_frames(self, day: date) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Return ``day``'s closed 1m bars and its ticks as the lake's frames (for the rollover)."""
        start, end = _day_bounds(day)
        with self._errors(f"read session {day}"):
            bars = pd.read_sql_query(
                "SELECT symbol, bar_ts, open, high, low, close, volume, tick_count FROM bars_1m "
                "WHERE closed = 1 AND bar_ts >= ? AND bar_ts < ? ORDER BY symbol, bar_ts",
                self._conn,
                params=(format_ts(start), format_ts(end)),
            )
            ticks = pd.read_sql_query(
                "SELECT symbol, ltt, ltp, ltq, vtt, seq, volume FROM ticks "
                "WHERE ltt >= ? AND ltt < ? ORDER BY seq",
                self._conn,
                params=(to_epoch_ms(start), to_epoch_ms(end)),
            )
        bars["bar_ts"] = pd.to_datetime(bars["bar_ts"], format="%Y-%m-%d %H:%M:%S%z")
        return conform_bars_frame(bars), conform_ticks_frame(ticks)

    def roll_over_session(self, day: date) -> tuple[int, int]:
        """Delete ``day``'s ticks and 1m bars and mark its ingest state rolled over, in one step.

        Call it only after the day is safely in the history lake. Return (ticks, bars) deleted.
        """
        start, end = _day_bounds(day)
        with self.transaction(f"roll over session {day}") as conn:
            ticks = conn.execute(
                "DELETE FROM ticks WHERE ltt >= ? AND ltt < ?",
                (to_epoch_ms(start), to_epoch_ms(end)),
            ).rowcount
            bars = conn.execute(
                "DELETE FROM bars_1m WHERE bar_ts >= ? AND bar_ts < ?",
                (format_ts(start), format_ts(end)),
            ).rowcount
            conn.execute(
                "UPDATE ingest_state SET rolled_over_at = CURRENT_TIMESTAMP, "
                "updated_at = CURRENT_TIMESTAMP WHERE session_date = ?",
                (day.isoformat(),),
            )
        logger.info("rolled over session %s: deleted %d ticks, %d bars", day, ticks, bars)
        return ticks, bars

    def upsert_feed_status(self, status: FeedStatus) -> None:
        """Store ``status`` as the current state of its feed."""
        row = (
            status.feed,
            int(status.connected),
            status.state.value,
            _opt_ts(status.last_tick_ts),
            None if status.last_message_at is None else format_at(status.last_message_at),
            status.reconnects,
            status.last_error,
        )
        with self.transaction(f"upsert feed status {status.feed}") as conn:
            conn.execute(_UPSERT_FEED, row)

    def record_gap(self, gap: Gap) -> int:
        """Record ``gap`` and return its id; recording the same gap again returns the same id."""
        row = (gap.feed, format_ts(gap.start), _opt_ts(gap.end), gap.reason)
        with self.transaction(f"record gap {gap.feed} from {row[1]}") as conn:
            rows = conn.execute(_RECORD_GAP, row).fetchall()
        logger.info("gap %d on feed %s from %s: %s", rows[0][0], gap.feed, row[1], gap.reason)
        return int(rows[0][0])

    def close_gap(self, gap_id: int, end: datetime) -> None:
        """Set the end of open gap ``gap_id``; closing it again at the same time is a no-op."""
        end_ts = format_ts(end)
        with self.transaction(f"close gap {gap_id}") as conn:
            changed = conn.execute(
                "UPDATE gaps SET end_ts = ? WHERE gap_id = ? AND end_ts IS NULL", (end_ts, gap_id)
            ).rowcount
            if changed:
                logger.info("gap %d closed at %s", gap_id, end_ts)
                return
            found = conn.execute("SELECT end_ts FROM gaps WHERE gap_id = ?", (gap_id,)).fetchall()
        if not found:
            raise StoreError(f"market.db ({self.path}): no gap {gap_id} to close")
        if found[0][0] != end_ts:
            raise DataIntegrityError(
                f"market.db ({self.path}): gap {gap_id} already closed at {found[0][0]}, "
                f"not {end_ts}"
            )


def _bar_of(row: Row) -> Bar:
    symbol, bar_ts, open_, high, low, close, volume, tick_count, closed = row
    return Bar(
        symbol=symbol,
        ts=parse_ts(bar_ts),
        minutes=1,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        tick_count=tick_count,
        closed=bool(closed),
    )


def _tick_of(row: Row) -> Tick:
    symbol, ltt, ltp, ltq, vtt, seq, volume = row
    return Tick(
        symbol=symbol,
        ts=from_epoch_ms(ltt),
        price=ltp,
        last_qty=ltq,
        cum_volume=vtt,
        volume=volume,
        seq=seq,
    )


def _feed_of(row: Row) -> StoredFeedStatus:
    feed, status, last_tick_ts, last_message_at, reconnects, last_error, updated_at = row
    return StoredFeedStatus(
        status=FeedStatus(
            feed=feed,
            state=FeedState(status),
            last_tick_ts=None if last_tick_ts is None else parse_ts(last_tick_ts),
            last_message_at=None if last_message_at is None else parse_at(last_message_at),
            reconnects=reconnects,
            last_error=last_error,
        ),
        updated_at=parse_at(updated_at),
    )


def _gap_of(row: Row) -> StoredGap:
    gap_id, feed, start_ts, end_ts, reason, created_at = row
    gap = Gap(
        feed=feed,
        start=parse_ts(start_ts),
        end=None if end_ts is None else parse_ts(end_ts),
        reason=reason,
    )
    return StoredGap(gap_id=gap_id, gap=gap, created_at=parse_at(created_at))


def _symbol_filter(symbols: Sequence[str] | None, conds: list[str], params: list[object]) -> None:
    if symbols is not None:
        conds.append(f"symbol IN ({placeholders(len(symbols))})")
        params.extend(symbols)


class MarketReader(SqliteReader):
    """A read-only view of ``market.db`` for the live session, scanner and health."""

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> None:
        super().__init__(path, MARKET, busy_timeout_s=busy_timeout_s)

    def bars_1m(
        self,
        symbols: Sequence[str] | None = None,
        since: datetime | None = None,
        closed_only: bool = False,
    ) -> list[Bar]:
        """Return 1m bars, oldest first, optionally for ``symbols``, opening at/after ``since``."""
        conds: list[str] = []
        params: list[object] = []
        _symbol_filter(symbols, conds, params)
        if since is not None:
            conds.append("bar_ts >= ?")
            params.append(format_ts(since.replace(microsecond=0)))
        if closed_only:
            conds.append("closed = 1")
        sql = (
            "SELECT symbol, bar_ts, open, high, low, close, volume, tick_count, closed "
            f"FROM bars_1m {where_clause(conds)} ORDER BY bar_ts, symbol"
        )
        return self._rows("bars_1m", sql, params, _bar_of)

    def ticks(
        self,
        symbols: Sequence[str] | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Tick]:
        """Return ticks in exchange-time order, optionally for ``symbols`` and at/after ``since``."""
        conds: list[str] = []
        params: list[object] = []
        _symbol_filter(symbols, conds, params)
        if since is not None:
            conds.append("ltt >= ?")
            params.append(to_epoch_ms(since))
        sql = (
            "SELECT symbol, ltt, ltp, ltq, vtt, seq, volume "
            f"FROM ticks {where_clause(conds)} ORDER BY ltt, seq, symbol"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._rows("ticks", sql, params, _tick_of)

    def ticks_in_spans(
        self, spans: Mapping[str, tuple[datetime, datetime]]
    ) -> dict[str, list[Tick]]:
        """Return each symbol's ticks with exchange time in its span [start, end), by ``seq``.

        One pass over the ticks from the earliest start (the table is keyed by ``seq``: a
        query per symbol would read the whole day once per symbol); what lies outside a
        symbol's span is skipped before it is rebuilt as a ``Tick``.
        """
        if not spans:
            return {}
        bounds = {s: (to_epoch_ms(a), to_epoch_ms(b)) for s, (a, b) in spans.items()}
        rows = self._fetch(
            "read ticks in spans",
            "SELECT symbol, ltt, ltp, ltq, vtt, seq, volume FROM ticks WHERE ltt >= ? ORDER BY seq",
            (min(lo for lo, _hi in bounds.values()),),
        )
        wanted = [row for row in rows if (b := bounds.get(row[0])) and b[0] <= row[1] < b[1]]
        out: dict[str, list[Tick]] = {symbol: [] for symbol in spans}
        for tick in self._build_all("ticks", wanted, _tick_of):
            out[tick.symbol].append(tick)
        return out

    def count_ticks(self, symbol: str | None = None) -> int:
        """Return how many ticks are stored, for one symbol or all."""
        if symbol is None:
            rows = self._fetch("count ticks", "SELECT COUNT(*) FROM ticks")
        else:
            rows = self._fetch(
                "count ticks", "SELECT COUNT(*) FROM ticks WHERE symbol = ?", (symbol,)
            )
        return int(rows[0][0])

    def latest_bar_ts(self, symbol: str | None = None) -> datetime | None:
        """Return the open time of the newest 1m bar (of ``symbol``, or of any), or None."""
        if symbol is None:
            rows = self._fetch("latest bar", "SELECT MAX(bar_ts) FROM bars_1m")
        else:
            rows = self._fetch(
                "latest bar", "SELECT MAX(bar_ts) FROM bars_1m WHERE symbol = ?", (symbol,)
            )
        return None if rows[0][0] is None else parse_ts(rows[0][0])

    def feed_statuses(self) -> list[StoredFeedStatus]:
        """Return the status of every feed ingest has reported, by feed name."""
        sql = (
            "SELECT feed, status, last_tick_ts, last_message_at, reconnects, last_error, "
            "updated_at FROM feed_status ORDER BY feed"
        )
        return self._rows("feed_status", sql, (), _feed_of)

    def gaps(self, feed: str | None = None, open_only: bool = False) -> list[StoredGap]:
        """Return recorded gaps, oldest first."""
        conds: list[str] = []
        params: list[object] = []
        if feed is not None:
            conds.append("feed = ?")
            params.append(feed)
        if open_only:
            conds.append("end_ts IS NULL")
        sql = (
            "SELECT gap_id, feed, start_ts, end_ts, reason, created_at "
            f"FROM gaps {where_clause(conds)} ORDER BY start_ts, gap_id"
        )
        return self._rows("gaps", sql, params, _gap_of)

    def ingest_state(self) -> IngestState | None:
        """Return ingest's state for its latest session day, or None before its first commit."""
        rows = self._fetch(
            "read ingest_state",
            "SELECT session_date, journal_file, journal_offset, next_seq, feed_clock_ms, "
            "rolled_over_at FROM ingest_state ORDER BY session_date DESC LIMIT 1",
        )
        if not rows:
            return None
        day, journal_file, offset, next_seq, clock_ms, rolled_at = rows[0]
        try:
            return IngestState(
                session_date=date.fromisoformat(day),
                journal_file=journal_file,
                journal_offset=offset,
                next_seq=next_seq,
                feed_clock_ms=clock_ms,
                rolled_over=rolled_at is not None,
            )
        except ValueError as exc:
            raise DataIntegrityError(
                f"market.db ({self.path}): bad ingest_state row {rows[0]!r}"
            ) from exc

    def tick_high_water(self) -> dict[str, int]:
        """Return each symbol's highest stored cumulative volume (``vtt``), where it has one."""
        rows = self._fetch(
            "read tick high water",
            "SELECT symbol, MAX(vtt) FROM ticks WHERE vtt IS NOT NULL GROUP BY symbol",
        )
        return {str(symbol): int(vtt) for symbol, vtt in rows}

    def last_ticks(self) -> dict[str, Tick]:
        """Return each symbol's stored tick with the highest ``seq`` (the last one accepted)."""
        sql = (
            "SELECT t.symbol, t.ltt, t.ltp, t.ltq, t.vtt, t.seq, t.volume FROM ticks AS t "
            "JOIN (SELECT symbol, MAX(seq) AS seq FROM ticks GROUP BY symbol) AS m "
            "ON t.symbol = m.symbol AND t.seq = m.seq"
        )
        return {tick.symbol: tick for tick in self._rows("ticks", sql, (), _tick_of)}
