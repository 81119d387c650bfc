"""Market time for NSE: IST, the regular session, trading days, and bar alignment.

Conventions (see DESIGN.md):
- in memory every datetime is timezone-aware; naive ones are rejected;
- ``*_ts`` text is market time ``YYYY-MM-DD HH:MM:SS+05:30``; ``*_at`` text is UTC
  ``YYYY-MM-DD HH:MM:SS`` (SQLite's ``CURRENT_TIMESTAMP`` form);
- a bar is labelled by its open time; N-minute bars are anchored at 09:15 IST and the last
  bar of the day is cut at 15:30.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pixity.errors import CalendarRangeError, InvalidValueError

IST = ZoneInfo("Asia/Kolkata")
SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)
PRE_OPEN = time(9, 0)
SESSION_MINUTES = 375  # 09:15 -> 15:30

_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\+05:30$")
_AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def require_aware(when: datetime, what: str = "datetime") -> datetime:
    """Return ``when`` unchanged, or raise if it has no timezone."""
    if when.__class__ is datetime and when.tzinfo is IST:
        return when  # the common case, per tick: IST always has an offset
    if not isinstance(when, datetime):
        raise InvalidValueError(f"{what} must be a datetime, got {type(when).__name__}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidValueError(f"{what} {when.isoformat()} is naive: give it a timezone")
    return when


def to_ist(when: datetime) -> datetime:
    """Convert an aware datetime to IST."""
    if when.__class__ is datetime and when.tzinfo is IST:
        return when  # what astimezone(IST) would return, without the checks (per tick)
    return require_aware(when).astimezone(IST)


def ist(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """Build an IST datetime (a convenience for tests, notebooks and parameters)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=IST)


def format_ts(when: datetime) -> str:
    """Format market time for a ``*_ts`` column: ``YYYY-MM-DD HH:MM:SS+05:30``."""
    local = to_ist(when)
    if local.microsecond:
        raise InvalidValueError(f"{local.isoformat()} has sub-second precision; *_ts holds seconds")
    return local.strftime("%Y-%m-%d %H:%M:%S") + "+05:30"


def parse_ts(text: str) -> datetime:
    """Parse a ``*_ts`` column value back to an aware IST datetime."""
    if not isinstance(text, str) or not _TS_RE.match(text):
        raise InvalidValueError(f"market time {text!r} is not 'YYYY-MM-DD HH:MM:SS+05:30'")
    return datetime.fromisoformat(text).astimezone(IST)


def format_at(when: datetime) -> str:
    """Format wall-clock time for an ``*_at`` column: UTC ``YYYY-MM-DD HH:MM:SS``."""
    return require_aware(when).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_at(text: str) -> datetime:
    """Parse an ``*_at`` column value (UTC, no offset) to an aware UTC datetime."""
    if not isinstance(text, str) or not _AT_RE.match(text):
        raise InvalidValueError(f"wall-clock time {text!r} is not 'YYYY-MM-DD HH:MM:SS' (UTC)")
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def from_epoch_ms(ms: int) -> datetime:
    """Convert exchange epoch milliseconds (Upstox ``ltt``) to an aware IST datetime."""
    # The same as converting from UTC (both go through IST.fromutc), in one step.
    return datetime.fromtimestamp(ms / 1000, IST)


def to_epoch_ms(when: datetime) -> int:
    """Convert an aware datetime to epoch milliseconds."""
    require_aware(when)
    return round(when.timestamp() * 1000)


def session_open(day: date) -> datetime:
    """Return 09:15 IST on ``day``."""
    return datetime.combine(day, SESSION_OPEN, tzinfo=IST)


def session_close(day: date) -> datetime:
    """Return 15:30 IST on ``day``."""
    return datetime.combine(day, SESSION_CLOSE, tzinfo=IST)


def in_session(when: datetime) -> bool:
    """Tell whether ``when`` lies in the regular session's clock hours [09:15, 15:30).

    Trading days are the calendar's business: see ``NseCalendar.is_open``.
    """
    local = to_ist(when)
    return SESSION_OPEN <= local.time() < SESSION_CLOSE


def _check_minutes(minutes: int) -> None:
    if (
        not isinstance(minutes, int)
        or isinstance(minutes, bool)
        or not 1 <= minutes <= SESSION_MINUTES
    ):
        raise InvalidValueError(f"bar length {minutes!r} minutes is not in 1..{SESSION_MINUTES}")


def bar_start(when: datetime, minutes: int = 1) -> datetime:
    """Return the open time of the ``minutes``-long bar holding ``when``, anchored at 09:15 IST.

    ``when`` must lie in the session's clock hours; the result is in IST.
    """
    _check_minutes(minutes)
    local = to_ist(when)
    if not in_session(local):
        raise InvalidValueError(f"{local.isoformat()} is outside the 09:15-15:30 IST session")
    anchor = session_open(local.date())
    offset = int((local - anchor).total_seconds()) // 60
    return anchor + timedelta(minutes=offset - offset % minutes)


def bar_end(start: datetime, minutes: int = 1) -> datetime:
    """Return the end (exclusive) of the bar opening at ``start``; the day's last bar ends at 15:30."""
    _check_minutes(minutes)
    local = to_ist(start)
    return min(local + timedelta(minutes=minutes), session_close(local.date()))


def is_bar_aligned(start: datetime, minutes: int) -> bool:
    """Tell whether ``start`` is the open time of a ``minutes``-long bar."""
    local = to_ist(start)
    return in_session(local) and bar_start(local, minutes) == local


def bar_starts(day: date, minutes: int) -> list[datetime]:
    """Return every bar open time of the session on ``day`` (09:15 ... last)."""
    _check_minutes(minutes)
    anchor = session_open(day)
    return [anchor + timedelta(minutes=m) for m in range(0, SESSION_MINUTES, minutes)]


class MarketPhase(StrEnum):
    """Where the market is in its day."""

    CLOSED = "closed"  # holiday, weekend, or outside 09:00-15:30
    PRE_OPEN = "pre-open"  # 09:00-09:15 call auction
    OPEN = "open"  # 09:15-15:30


class NseCalendar:
    """NSE trading days, from ``exchange_calendars``' XBOM calendar.

    NSE and BSE publish the same trading-holiday list for equities, and exchange_calendars
    keeps XBOM's list up to date in its releases. A date past the last year whose holidays
    the installed release knows is refused rather than guessed.
    """

    def __init__(self) -> None:
        self._cal = _xbom()
        self.first_day: date = self._cal.first_session.date()
        self.last_day: date = self._cal.last_session.date()

    def _check(self, day: date) -> None:
        if not self.first_day <= day <= self.last_day:
            raise CalendarRangeError(
                f"{day} is outside the NSE calendar known to this exchange-calendars release "
                f"({self.first_day} .. {self.last_day}); upgrade exchange-calendars for later years"
            )

    def is_trading_day(self, day: date) -> bool:
        """Tell whether NSE holds its regular equity session on ``day``."""
        self._check(day)
        return bool(self._cal.is_session(day.isoformat()))

    def trading_days(self, start: date, end: date) -> list[date]:
        """Return the trading days from ``start`` to ``end``, both included."""
        self._check(start)
        self._check(end)
        if end < start:
            return []
        sessions = self._cal.sessions_in_range(start.isoformat(), end.isoformat())
        return [ts.date() for ts in sessions]

    def next_trading_day(self, day: date) -> date:
        """Return the first trading day strictly after ``day``."""
        probe = day + timedelta(days=1)
        while not self.is_trading_day(probe):
            probe += timedelta(days=1)
        return probe

    def previous_trading_day(self, day: date) -> date:
        """Return the last trading day strictly before ``day``."""
        probe = day - timedelta(days=1)
        while not self.is_trading_day(probe):
            probe -= timedelta(days=1)
        return probe

    def is_open(self, when: datetime) -> bool:
        """Tell whether the regular session is open at ``when``."""
        local = to_ist(when)
        return self.is_trading_day(local.date()) and in_session(local)

    def phase(self, when: datetime) -> MarketPhase:
        """Return the market phase at ``when``."""
        local = to_ist(when)
        if not self.is_trading_day(local.date()):
            return MarketPhase.CLOSED
        if PRE_OPEN <= local.time() < SESSION_OPEN:
            return MarketPhase.PRE_OPEN
        if in_session(local):
            return MarketPhase.OPEN
        return MarketPhase.CLOSED


# A fixed start keeps the calendar the same whatever today's date is.
_CALENDAR_START = "2005-01-03"


@functools.cache
def _xbom():  # type: ignore[no-untyped-def]
    import exchange_calendars as xcals

    probe = xcals.get_calendar("XBOM", start=_CALENDAR_START)
    # Extend to the end of the last year whose holidays the release lists: beyond that,
    # the calendar would only know weekends and would call every holiday a trading day.
    last_known = max(ts.year for ts in probe.adhoc_holidays)
    end = f"{last_known}-12-31"
    if probe.last_session.strftime("%Y-%m-%d") >= end:
        return probe
    return xcals.get_calendar("XBOM", start=_CALENDAR_START, end=end)


@functools.cache
def nse_calendar() -> NseCalendar:
    """Return the shared NSE calendar (built once; building it takes a moment)."""
    return NseCalendar()
