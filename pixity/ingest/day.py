"""One session day: its journal, its quote validator and its 1m bar aggregator."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from pixity.bars import BarSink, TickAggregator
from pixity.clock import Clock
from pixity.feeds.journal import JournalWriter
from pixity.ingest.validate import QuoteValidator
from pixity.markettime import nse_calendar, session_close, to_epoch_ms
from pixity.stores.market import IngestState

_MS = timedelta(milliseconds=1)


def journal_name(day: date) -> str:
    """Return the journal's path relative to the live buffer folder."""
    return f"journal/{day.isoformat()}.journal"


class SessionDay:
    """The per-day state of the pipeline; ``reset`` starts its bars and validation over."""

    def __init__(
        self,
        day: date,
        *,
        journal_dir: Path,
        symbols: tuple[str, ...],
        grace: timedelta,
        on_bar: BarSink,
    ) -> None:
        self.day = day
        self.journal_path = journal_dir / f"{day.isoformat()}.journal"
        self.journal = JournalWriter(self.journal_path)
        self.trading_day = nse_calendar().is_trading_day(day)
        self._symbols = symbols
        self._grace = grace
        self._on_bar = on_bar
        self.validator = QuoteValidator(symbols, day, trading_day=self.trading_day)
        self.aggregator: TickAggregator | None = None
        self._journal_file = journal_name(day)
        self._close_ms = to_epoch_ms(session_close(day))

    def reset(self, clock: Clock) -> None:
        """Start validation and bar building afresh, with bars closed by ``clock``."""
        self.validator = QuoteValidator(self._symbols, self.day, trading_day=self.trading_day)
        self.aggregator = TickAggregator(
            minutes=1, on_bar=self._on_bar, clock=clock, grace=self._grace
        )

    @property
    def bars(self) -> TickAggregator:
        """Return the aggregator (``reset`` must have been called)."""
        assert self.aggregator is not None, "SessionDay.reset() not called"
        return self.aggregator

    def state(self, offset: int, clock_ms: int | None) -> IngestState:
        """Return the ingest state at journal ``offset``."""
        return IngestState(
            session_date=self.day,
            journal_file=self._journal_file,
            journal_offset=offset,
            next_seq=self.validator.next_seq,
            feed_clock_ms=clock_ms,
        )

    def rollover_due(self, now_ms: int | None, delay: timedelta) -> bool:
        """Tell whether the feed clock is past the session close plus ``delay``."""
        if now_ms is None:
            return False
        return now_ms >= self._close_ms + delay // _MS

    def close(self) -> None:
        """Close the journal."""
        self.journal.close()
