"""``ScannerView``: the dashboard's refresh, header and drawer over one data directory.

The view keeps its read-only readers open between refreshes (never a transaction) and
takes the time from an injected clock. Every call returns a ``ViewResult``; nothing raises
for a store that is missing or cannot be read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any, Self

from pixity.clock import Clock
from pixity.domain import Bar, DayPnl
from pixity.markettime import parse_ts, require_aware, to_ist
from pixity.scanner import drawer_frames as drawers
from pixity.scanner import queries as q
from pixity.scanner.columns import FILLS, OVERVIEW, SIGNALS, build_frame
from pixity.scanner.limits import LossLimit
from pixity.scanner.result import Problems, ViewResult
from pixity.scanner.session import Session, clock_day, market_phase, session_of
from pixity.scanner.sources import (
    CONFIG_STORE,
    MARKET_STORE,
    PAPER_STORE,
    SCANNER_BUSY_TIMEOUT_S,
    SIGNALS_STORE,
    Stores,
)
from pixity.scanner.table import ATTENTION, overview_frame
from pixity.stores.market import MarketReader
from pixity.stores.paper import PaperReader
from pixity.stores.sqlite import Row, SqliteReader

_STATUS = q.RUNNER_FIELDS.index("status")
_UPDATED_AT = q.RUNNER_FIELDS.index("updated_at")


@dataclass(frozen=True, slots=True)
class _MarketDay:
    session: Session
    prices: dict[str, q.DayPrice]


@dataclass(frozen=True, slots=True)
class _PaperDay:
    positions: dict[q.Key, q.PositionRow]
    pnl: DayPnl | None


@dataclass(frozen=True, slots=True)
class _Reads:
    """One refresh's reads; None where a store is missing or could not be read."""

    runners: list[Row] | None
    market: _MarketDay | None
    session: Session
    signals: dict[q.Key, q.SignalRow] | None
    paper: _PaperDay | None


class ScannerView:
    """The scanner's view model of the stores under ``data_dir``, read-only.

    ``with ScannerView("data", clock=WallClock()) as view: snap = view.refresh()``; then
    ``snap["overview"]`` is the table and ``snap.values`` the header. ``max_daily_loss``, if
    given, is shown against the day's P&L; otherwise it is read from the day's run notebook.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        clock: Clock,
        busy_timeout_s: float = SCANNER_BUSY_TIMEOUT_S,
        max_daily_loss: float | None = None,
    ) -> None:
        self._clock = clock
        self._stores = Stores(data_dir, busy_timeout_s=busy_timeout_s)
        self._limit = LossLimit(self._stores.paths.runs, max_daily_loss)

    # ------------------------------------------------------------ public

    def refresh(self) -> ViewResult:
        """Read every store once; return frame ``overview`` and the header as ``values``."""
        now = require_aware(self._clock.now(), "scanner clock")
        problems = Problems()
        reads = self._read_all(now, problems)
        phase, phase_error = market_phase(now)
        if phase_error:
            problems.errors["calendar"] = phase_error
        _runner_notes(problems, reads)
        frame = overview_frame(
            reads.runners or [],
            reads.market.prices if reads.market else {},
            reads.signals or {},
            reads.paper.positions if reads.paper else {},
        )
        header: dict[str, Any] = {
            "as_of": to_ist(now).isoformat(),
            "session_date": reads.session.day.isoformat(),
            "session_date_source": reads.session.source,
            "market_phase": None if phase is None else phase.value,
            **self._pnl_values(reads.session.day, reads.paper),
            **_runner_values(reads.runners),
        }
        return problems.result({"overview": frame}, header)

    def overview(self) -> ViewResult:
        """Return frame ``overview``: one row per (symbol, strategy) (``columns.OVERVIEW``)."""
        snap = self.refresh()
        return ViewResult(frames=snap.frames, errors=snap.errors, notes=snap.notes)

    def header(self) -> ViewResult:
        """Return the header as ``values``: session day, market phase, P&L, limit, kill."""
        snap = self.refresh()
        return ViewResult(values=snap.values, errors=snap.errors, notes=snap.notes)

    def drawer(
        self, symbol: str, strategy_id: str, *, minutes: int = drawers.CANDLE_MINUTES
    ) -> ViewResult:
        """Return one row's frames: ``signals``, ``fills``, ``candles`` and ``marks``.

        ``signals``: its most recent signals, newest bar first; ``fills``: the day's fills of
        ``symbol``, newest first; ``candles``: the day's closed 1m bars resampled to
        ``minutes`` (anchored at 09:15); ``marks``: the day's signals to draw on them.
        """
        now = require_aware(self._clock.now(), "scanner clock")
        problems = Problems()
        fallback, calendar_error = clock_day(now)
        if calendar_error:
            problems.errors["calendar"] = calendar_error
        frames = drawers.empty_frames()
        market = self._stores.read(
            MARKET_STORE, lambda r: _day_bars(r, symbol, fallback, minutes), problems
        )
        session = market.session if market else session_of(None, fallback)
        bounds = q.DayBounds.of(session.day)
        candles = market.candles if market else []
        if market:
            frames["candles"] = drawers.candles_frame(market.bars, candles)
        key = (strategy_id, symbol)
        signals = self._stores.read(
            SIGNALS_STORE,
            lambda r: (q.recent_signals(r, key), q.day_signals(r, key, bounds)),
            problems,
        )
        if signals:
            frames["signals"] = drawers.rows_frame(SIGNALS, signals[0])
            frames["marks"] = drawers.marks_frame(signals[1], candles)
        fills = self._stores.read(PAPER_STORE, lambda r: q.day_fills(r, symbol, bounds), problems)
        if fills is not None:
            frames["fills"] = drawers.rows_frame(FILLS, fills)
        values = {"symbol": symbol, "strategy_id": strategy_id, "minutes": minutes,
                  "session_date": session.day.isoformat()}  # fmt: skip
        return problems.result(frames, values)

    def open_readers(self) -> dict[str, SqliteReader]:
        """Return the read-only readers open now, by store (e.g. to check none is in a transaction)."""
        return self._stores.open_readers()

    def close(self) -> None:
        """Close every reader; a later call opens them again."""
        self._stores.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------ parts

    def _read_all(self, now: datetime, problems: Problems) -> _Reads:
        """Read the four stores, one short snapshot each: runners first, for their keys."""
        fallback, calendar_error = clock_day(now)
        if calendar_error:
            problems.errors["calendar"] = calendar_error
        runners = self._stores.read(
            CONFIG_STORE, q.runner_rows, problems, cache_as=("runners", None)
        )
        symbols = sorted({row[0] for row in runners or ()})
        keys = tuple((row[1], row[0]) for row in runners or ())

        def read_market(reader: MarketReader) -> _MarketDay:
            session = session_of(q.ingest_state(reader), fallback)
            return _MarketDay(session, q.day_prices(reader, symbols, q.DayBounds.of(session.day)))

        market = self._stores.read(MARKET_STORE, read_market, problems)
        session = market.session if market else session_of(None, fallback)
        bounds = q.DayBounds.of(session.day)
        signals = self._stores.read(
            SIGNALS_STORE, lambda r: q.last_signals(r, keys), problems, cache_as=("last", keys)
        )
        paper = self._stores.read(
            PAPER_STORE, lambda r: _read_paper(r, bounds), problems, cache_as=("day", bounds)
        )
        return _Reads(runners, market, session, signals, paper)

    def _pnl_values(self, day: date, paper: _PaperDay | None) -> dict[str, Any]:
        limit = self._limit.for_day(day)
        pnl = None if paper is None else paper.pnl
        total = None if pnl is None else round(pnl.total, 2)
        used = None
        if total is not None and limit is not None:
            used = round(100.0 * max(0.0, -total) / limit, 1)
        return {
            "day_pnl": total,  # realised + unrealised, net of costs
            "day_pnl_realised": None if pnl is None else round(pnl.realised, 2),
            "day_pnl_unrealised": None if pnl is None else round(pnl.unrealised, 2),
            "day_costs": None if pnl is None else round(pnl.costs, 2),
            "max_daily_loss": limit,
            "loss_limit_used_pct": used,
            # No stored row yet means no kill: a kill is stored before anything else.
            "killed": None if paper is None else (pnl is not None and pnl.killed),
            "kill_reason": None if pnl is None else pnl.kill_reason,
        }


@dataclass(frozen=True, slots=True)
class _DayBars:
    session: Session
    bars: list[Bar]  # the day's closed 1m bars of one symbol
    candles: list[Bar]


def _day_bars(reader: MarketReader, symbol: str, fallback: date, minutes: int) -> _DayBars:
    session = session_of(q.ingest_state(reader), fallback)
    start = parse_ts(q.DayBounds.of(session.day).start)
    bars = reader.bars_1m([symbol], since=start, closed_only=True)
    day = [bar for bar in bars if to_ist(bar.ts).date() == session.day]
    return _DayBars(session, day, drawers.candles(day, minutes))


def _read_paper(reader: PaperReader, bounds: q.DayBounds) -> _PaperDay:
    return _PaperDay(q.day_positions(reader, bounds), q.day_pnl(reader, bounds))


def _runner_values(runners: list[Row] | None) -> dict[str, Any]:
    if runners is None:
        return {"runners": None, "runners_attention": None, "last_runner_update": None}
    updated = max((str(row[_UPDATED_AT]) for row in runners), default=None)
    return {
        "runners": len(runners),
        "runners_attention": sum(1 for row in runners if row[_STATUS] in ATTENTION),
        "last_runner_update": None if updated is None else f"{updated.replace(' ', 'T')}+00:00",
    }


def _runner_notes(problems: Problems, reads: _Reads) -> None:
    session = reads.session
    if reads.runners is not None and not reads.runners:
        problems.note("the live session has no runners yet: start `pixity live` (or wait for it)")
    if session.rolled_over is not None:
        problems.note(f"{session.rolled_over} has been rolled over to the history lake")
    if reads.runners and reads.market is not None and not reads.market.prices:
        problems.note(f"no 1m bars for {session.day} in market.db yet: is `pixity ingest` running?")


# ------------------------------------------------------------------ one-shot functions


def overview(data_dir: str | os.PathLike[str], *, clock: Clock) -> ViewResult:
    """Return frame ``overview`` for ``data_dir`` (opens, reads and closes every store)."""
    with ScannerView(data_dir, clock=clock) as view:
        return view.overview()


def header(data_dir: str | os.PathLike[str], *, clock: Clock) -> ViewResult:
    """Return the header ``values`` for ``data_dir`` (opens, reads and closes every store)."""
    with ScannerView(data_dir, clock=clock) as view:
        return view.header()


def drawer(
    data_dir: str | os.PathLike[str], symbol: str, strategy_id: str, *, clock: Clock
) -> ViewResult:
    """Return one row's drawer frames for ``data_dir`` (opens, reads and closes the stores)."""
    with ScannerView(data_dir, clock=clock) as view:
        return view.drawer(symbol, strategy_id)


def empty_overview() -> ViewResult:
    """Return an overview with no rows (e.g. for the dashboard before its first refresh)."""
    return ViewResult(frames={"overview": build_frame(OVERVIEW)})
