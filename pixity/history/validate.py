"""Check 1m candles from outside (a broker CSV, the Upstox API) and turn them into bars.

Every row is checked and every problem kept with the row's place in its source (a CSV line
number, a candle's position in an API answer), so one run shows all that is wrong with the
input. A row is bad when its time does not parse, is not on a minute, lies outside
09:15-15:29 IST (a 1m bar's open times) or on a day NSE did not trade, or outside the range
asked for; when a price is not a finite number > 0 or breaks ``low <= open, close <= high``;
when the volume is not a whole number >= 0; or when an earlier row has the same time.

Times are ISO 8601 (``2025-06-02T09:15:00+05:30``, ``2025-06-02 09:15:00``,
``2025-06-02 09:15``, ``...Z``); a time without an offset is taken in ``naive_tz``.
Imported bars carry ``tick_count`` 0: neither source says how many trades a minute held.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo

from pixity.domain import Bar, check_symbol
from pixity.errors import InvalidValueError
from pixity.markettime import IST, nse_calendar

REPORT_LIMIT = 50  # bad rows listed in a report; the rest are counted

_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$"
)
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_FIRST_OPEN = time(9, 15)
_LAST_OPEN = time(15, 29)
_CLOSE = time(15, 30)
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class RawCandle:
    """One candle as its source gave it, unchecked: text (CSV) or JSON values (API)."""

    line: int
    ts: object
    open: object
    high: object
    low: object
    close: object
    volume: object


@dataclass(frozen=True, slots=True, kw_only=True)
class BadRow:
    """A row that was refused: where it sits (``place`` ``line``, its number) and why."""

    place: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.place} {self.line}: {self.reason}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Checked:
    """The outcome of checking a source: good rows as bars in time order, and the bad rows."""

    bars: tuple[Bar, ...]
    bad: tuple[BadRow, ...]
    rows: int

    @property
    def days(self) -> tuple[date, ...]:
        """Return the IST dates the good rows cover, oldest first."""
        return tuple(sorted({bar.ts.date() for bar in self.bars}))


def merge_checked(parts: Iterable[Checked]) -> Checked:
    """Return one ``Checked`` from parts that cover disjoint times (API chunks)."""
    chunks = list(parts)
    bars = sorted((bar for part in chunks for bar in part.bars), key=lambda bar: bar.ts)
    bad = tuple(row for part in chunks for row in part.bad)
    return Checked(bars=tuple(bars), bad=bad, rows=sum(part.rows for part in chunks))


class BadRowsError(InvalidValueError):
    """Input rows failed their checks; nothing was written. ``bad`` lists every one."""

    def __init__(self, source: str, bad: Sequence[BadRow], rows: int, hint: str = "") -> None:
        self.bad = tuple(bad)
        head = f"{len(self.bad)} of {rows} rows in {source} are bad; nothing was written"
        super().__init__(head + (f" ({hint})" if hint else "") + ":\n" + format_bad_rows(bad))


def format_bad_rows(bad: Sequence[BadRow], limit: int = REPORT_LIMIT) -> str:
    """Return the bad rows one per line, the first ``limit`` of them and a count of the rest."""
    lines = [f"  {row}" for row in bad[:limit]]
    if len(bad) > limit:
        lines.append(f"  ... and {len(bad) - limit} more bad rows")
    return "\n".join(lines)


def check_candles(
    candles: Iterable[RawCandle],
    *,
    symbol: str,
    naive_tz: tzinfo,
    place: str = "line",
    window: tuple[date, date] | None = None,
    unreadable: Sequence[BadRow] = (),
) -> Checked:
    """Check every candle; return the good ones as closed 1m bars and every bad one.

    ``window`` (first, last IST date, both included) refuses candles outside the range asked
    for. ``unreadable`` are rows the source could not even split into fields; they are
    reported with the rest, in order.
    """
    check_symbol(symbol)
    checker = _Checker(naive_tz=naive_tz, window=window)
    bars: list[Bar] = []
    bad = list(unreadable)
    first_line: dict[datetime, int] = {}
    rows = len(unreadable)
    for candle in candles:
        rows += 1
        reasons: list[str] = []
        ts = checker.time(candle.ts, reasons)
        if ts is not None:
            if ts in first_line:
                reasons.append(f"same time as {place} {first_line[ts]} ({_show(ts)})")
            else:
                first_line[ts] = candle.line
        bar = _bar(symbol, ts, candle, reasons)
        if bar is None:
            bad.append(BadRow(place=place, line=candle.line, reason="; ".join(reasons)))
        else:
            bars.append(bar)
    bars.sort(key=lambda b: b.ts)
    bad.sort(key=lambda row: row.line)
    return Checked(bars=tuple(bars), bad=tuple(bad), rows=rows)


def _bar(symbol: str, ts: datetime | None, candle: RawCandle, reasons: list[str]) -> Bar | None:
    """Return the candle as a bar, or None with the reasons it cannot be one added."""
    o = _price("open", candle.open, reasons)
    h = _price("high", candle.high, reasons)
    lo = _price("low", candle.low, reasons)
    c = _price("close", candle.close, reasons)
    if o is not None and h is not None and lo is not None and c is not None:
        if h < lo:
            reasons.append(f"high {h:g} < low {lo:g}")
        else:
            reasons += [
                f"{name} {value:g} outside low {lo:g} .. high {h:g}"
                for name, value in (("open", o), ("close", c))
                if not lo <= value <= h
            ]
    volume = _volume(candle.volume, reasons)
    if reasons or ts is None or o is None or h is None or lo is None or c is None:
        return None
    assert volume is not None  # no reason was given, so the volume parsed
    try:
        return Bar(
            symbol=symbol, ts=ts, minutes=1, open=o, high=h, low=lo, close=c,
            volume=volume, tick_count=0, closed=True,
        )  # fmt: skip
    except InvalidValueError as exc:  # the domain's own rules, should ours ever miss one
        reasons.append(str(exc))
        return None


class _Checker:
    """Parses and checks candle times, asking the NSE calendar once per date."""

    def __init__(self, *, naive_tz: tzinfo, window: tuple[date, date] | None) -> None:
        self._tz = naive_tz
        self._window = window
        self._cal = nse_calendar()
        self._day_reason: dict[date, str | None] = {}

    def time(self, value: object, reasons: list[str]) -> datetime | None:
        """Return the candle's time in IST, or None with the reason added; check the session."""
        if not isinstance(value, str) or not _TIME_RE.match(value.strip()):
            reasons.append(f"time {value!r} is not like 2025-06-02 09:15[:00][+05:30] (ISO 8601)")
            return None
        try:
            parsed = datetime.fromisoformat(value.strip())
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=self._tz)
            local = parsed.astimezone(IST)
        except (ValueError, OverflowError):  # overflow: year 1 or 9999 moved past its end
            reasons.append(f"time {value!r} is not a real date and time")
            return None
        if local.second or local.microsecond:
            reasons.append(f"time {_show(local)} is not on a minute")
            return None
        problem = self._session_problem(local)
        if problem:
            reasons.append(problem)
            return None
        return local

    def _session_problem(self, local: datetime) -> str | None:
        clock = local.time()
        if not _FIRST_OPEN <= clock <= _LAST_OPEN:
            hint = (
                " (15:30 is the close: is the file labelled by bar end?)" if clock == _CLOSE else ""
            )
            return f"time {_show(local)} is outside the session: 1m bars open 09:15-15:29 IST{hint}"
        day = local.date()
        if self._window and not self._window[0] <= day <= self._window[1]:
            first, last = self._window
            return f"time {_show(local)} is outside the range asked for, {first} .. {last}"
        if day not in self._day_reason:
            self._day_reason[day] = self._day_problem(day)
        return self._day_reason[day]

    def _day_problem(self, day: date) -> str | None:
        cal = self._cal
        if not cal.first_day <= day <= cal.last_day:
            return (
                f"date {day} is outside the NSE calendar this exchange-calendars release "
                f"knows ({cal.first_day} .. {cal.last_day})"
            )
        if not cal.is_trading_day(day):
            return f"date {day} ({day:%A}) is not an NSE trading day"
        return None


def _price(name: str, value: object, reasons: list[str]) -> float | None:
    number = _number(value)
    if number is None:
        reasons.append(f"{name} {value!r} is not a number")
        return None
    if not math.isfinite(number) or number <= 0:
        reasons.append(f"{name} {value!r} must be finite and > 0")
        return None
    return number


def _volume(value: object, reasons: list[str]) -> int | None:
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        text = value.strip()
        if len(text.lstrip("+-").lstrip("0")) > 19:  # past int64; int() refuses 4300+ digits
            reasons.append(
                f"volume {text[:24]}... ({len(text)} characters) is too large for the lake"
            )
            return None
        whole = int(text)
    else:
        number = _number(value)
        if number is None or not math.isfinite(number) or not number.is_integer():
            reasons.append(f"volume {value!r} is not a whole number")
            return None
        whole = int(number)
    if whole < 0:
        reasons.append(f"volume {whole} must be >= 0")
        return None
    if whole > _INT64_MAX:
        reasons.append(f"volume {whole} is too large for the lake (int64)")
        return None
    return whole


def _number(value: object) -> float | None:
    """Return ``value`` as a float if it is a JSON number or decimal text, else None."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str) and _NUMBER_RE.match(value.strip()):
            return float(value.strip())
    except OverflowError:  # an int past float's range: as good as infinite
        return math.inf
    return None


def _show(ts: datetime) -> str:
    return ts.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S IST")
