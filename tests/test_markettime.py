"""Market time: IST text forms, the NSE calendar, bar alignment."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixity.errors import CalendarRangeError, InvalidValueError
from pixity.markettime import (
    IST,
    MarketPhase,
    bar_end,
    bar_start,
    bar_starts,
    format_at,
    format_ts,
    from_epoch_ms,
    is_bar_aligned,
    ist,
    nse_calendar,
    parse_at,
    parse_ts,
    to_epoch_ms,
)


def test_ts_text_round_trip_and_form() -> None:
    when = datetime(2025, 6, 2, 4, 0, tzinfo=UTC)  # 09:30 IST
    text = format_ts(when)
    assert text == "2025-06-02 09:30:00+05:30"
    assert parse_ts(text) == when
    assert parse_ts(text).tzinfo is IST


def test_ts_text_is_understood_by_sqlite() -> None:
    con = sqlite3.connect(":memory:")
    (utc,) = con.execute("SELECT datetime(?)", (format_ts(ist(2025, 6, 2, 9, 30)),)).fetchone()
    assert utc == "2025-06-02 04:00:00"


def test_at_text_is_sqlite_current_timestamp_form() -> None:
    con = sqlite3.connect(":memory:")
    (now,) = con.execute("SELECT CURRENT_TIMESTAMP").fetchone()
    parsed = parse_at(now)
    assert parsed.tzinfo is UTC
    assert format_at(parsed) == now


@pytest.mark.parametrize(
    "bad", ["2025-06-02 09:30:00", "2025-06-02T09:30:00+05:30", "2025-06-02 09:30:00Z", "", 5]
)
def test_parse_ts_rejects_other_forms(bad: object) -> None:
    with pytest.raises(InvalidValueError, match="YYYY-MM-DD HH:MM:SS\\+05:30"):
        parse_ts(bad)  # type: ignore[arg-type]


def test_naive_datetimes_are_rejected() -> None:
    naive = datetime(2025, 6, 2, 9, 30)  # noqa: DTZ001 - the point of the test
    for fn in (format_ts, format_at, to_epoch_ms, bar_start):
        with pytest.raises(InvalidValueError, match="naive"):
            fn(naive)


def test_epoch_ms() -> None:
    when = ist(2025, 6, 2, 9, 15, 0)
    ms = to_epoch_ms(when)
    assert ms == 1748835900000
    assert from_epoch_ms(ms) == when
    assert from_epoch_ms(ms + 1).microsecond == 1000


# Published NSE trading holidays (equity segment).
NSE_HOLIDAYS = [
    date(2024, 1, 22),  # special holiday (Ram Mandir consecration)
    date(2024, 1, 26),  # Republic Day
    date(2024, 3, 25),  # Holi
    date(2024, 5, 20),  # Lok Sabha election in Mumbai
    date(2024, 11, 20),  # Maharashtra assembly election
    date(2025, 2, 26),  # Mahashivratri
    date(2025, 3, 14),  # Holi
    date(2025, 8, 15),  # Independence Day
    date(2025, 10, 2),  # Gandhi Jayanti / Dussehra
    date(2025, 10, 21),  # Diwali Laxmi Pujan (only the evening muhurat session)
    date(2025, 12, 25),  # Christmas
]


@pytest.mark.parametrize("day", NSE_HOLIDAYS)
def test_known_nse_holidays_are_not_trading_days(day: date) -> None:
    assert day.weekday() < 5
    assert not nse_calendar().is_trading_day(day)


@pytest.mark.parametrize("day", [date(2025, 6, 7), date(2025, 6, 8), date(2024, 12, 29)])
def test_weekends_are_not_trading_days(day: date) -> None:
    assert not nse_calendar().is_trading_day(day)


@pytest.mark.parametrize("day", [date(2025, 6, 2), date(2024, 11, 21), date(2025, 2, 27)])
def test_ordinary_weekdays_are_trading_days(day: date) -> None:
    assert nse_calendar().is_trading_day(day)


def test_trading_days_and_neighbours() -> None:
    cal = nse_calendar()
    assert cal.trading_days(date(2025, 2, 24), date(2025, 3, 2)) == [
        date(2025, 2, 24),
        date(2025, 2, 25),
        date(2025, 2, 27),
        date(2025, 2, 28),
    ]
    assert cal.next_trading_day(date(2025, 2, 25)) == date(2025, 2, 27)
    assert cal.previous_trading_day(date(2025, 2, 27)) == date(2025, 2, 25)
    assert cal.next_trading_day(date(2025, 6, 6)) == date(2025, 6, 9)  # over a weekend


def test_dates_past_the_known_holidays_are_refused() -> None:
    cal = nse_calendar()
    beyond = cal.last_day + timedelta(days=1)
    with pytest.raises(CalendarRangeError, match="upgrade exchange-calendars"):
        cal.is_trading_day(beyond)


@pytest.mark.parametrize(
    ("when", "phase"),
    [
        (ist(2025, 6, 2, 9, 5), MarketPhase.PRE_OPEN),
        (ist(2025, 6, 2, 9, 15), MarketPhase.OPEN),
        (ist(2025, 6, 2, 15, 29, 59), MarketPhase.OPEN),
        (ist(2025, 6, 2, 15, 30), MarketPhase.CLOSED),
        (ist(2025, 6, 2, 3, 0), MarketPhase.CLOSED),
        (ist(2025, 6, 7, 11, 0), MarketPhase.CLOSED),  # Saturday
        (ist(2025, 2, 26, 11, 0), MarketPhase.CLOSED),  # holiday
    ],
)
def test_market_phase(when: datetime, phase: MarketPhase) -> None:
    assert nse_calendar().phase(when) is phase


def test_bar_alignment_examples() -> None:
    assert bar_start(ist(2025, 6, 2, 9, 29, 59), 15) == ist(2025, 6, 2, 9, 15)
    assert bar_start(ist(2025, 6, 2, 9, 30), 15) == ist(2025, 6, 2, 9, 30)
    assert bar_start(datetime(2025, 6, 2, 4, 0, 30, tzinfo=UTC), 1) == ist(2025, 6, 2, 9, 30)
    assert bar_start(ist(2025, 6, 2, 10, 14), 60) == ist(2025, 6, 2, 9, 15)
    assert bar_end(ist(2025, 6, 2, 15, 15), 15) == ist(2025, 6, 2, 15, 30)
    assert bar_end(ist(2025, 6, 2, 15, 15), 60) == ist(2025, 6, 2, 15, 30)
    starts = bar_starts(date(2025, 6, 2), 15)
    assert len(starts) == 25 and starts[0].time().isoformat() == "09:15:00"
    assert starts[-1].time().isoformat() == "15:15:00"
    assert len(bar_starts(date(2025, 6, 2), 1)) == 375
    with pytest.raises(InvalidValueError, match="outside the 09:15-15:30"):
        bar_start(ist(2025, 6, 2, 15, 30), 1)
    with pytest.raises(InvalidValueError, match="bar length"):
        bar_start(ist(2025, 6, 2, 10, 0), 0)


@given(st.integers(0, 375 * 60 - 1), st.sampled_from([1, 3, 5, 15, 30, 60, 75, 125]))
def test_bar_start_contains_time_and_is_aligned(offset_s: int, minutes: int) -> None:
    when = ist(2025, 6, 2, 9, 15) + timedelta(seconds=offset_s)
    start = bar_start(when, minutes)
    assert start <= when < bar_end(start, minutes)
    assert is_bar_aligned(start, minutes)
    assert (start - ist(2025, 6, 2, 9, 15)).total_seconds() % (60 * minutes) == 0
