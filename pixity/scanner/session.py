"""Which session day the scanner shows, and the market phase, from an injected clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pixity.errors import CalendarRangeError
from pixity.markettime import MarketPhase, nse_calendar, to_ist
from pixity.stores.market import IngestState

INGEST, CLOCK = "ingest", "clock"


@dataclass(frozen=True, slots=True)
class Session:
    """The day shown and where it came from: the ingest's state, or the clock."""

    day: date
    source: str
    rolled_over: date | None = None  # the ingest's last day, already moved to the lake


def clock_day(now: datetime) -> tuple[date, str | None]:
    """Return today (IST) if it is a trading day, else the last one; and any calendar error."""
    day = to_ist(now).date()
    try:
        calendar = nse_calendar()
        if not calendar.is_trading_day(day):
            day = calendar.previous_trading_day(day)
    except CalendarRangeError as exc:
        return day, str(exc)  # today's date is the best guess
    return day, None


def session_of(state: IngestState | None, fallback: date) -> Session:
    """Return the ingest's day while it is in the live buffer, else ``fallback`` (the clock's)."""
    if state is None:
        return Session(fallback, CLOCK)
    if state.rolled_over:
        return Session(fallback, CLOCK, rolled_over=state.session_date)
    return Session(state.session_date, INGEST)


def market_phase(now: datetime) -> tuple[MarketPhase | None, str | None]:
    """Return the market phase at ``now``, or None and why it is unknown."""
    try:
        return nse_calendar().phase(now), None
    except CalendarRangeError as exc:
        return None, str(exc)
