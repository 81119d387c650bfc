"""A day's 1m bars as columns: the same bars, and the same N-minute resample, as Bar objects."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixity.barcolumns import DayBars, day_bars, resample_day
from pixity.bars import resample
from pixity.domain import Bar
from pixity.errors import InvalidValueError
from pixity.markettime import session_open

DAY = date(2025, 6, 2)
OPEN = session_open(DAY)
SYMBOLS = ["NSE_EQ|INE155A01022", "NSE_EQ|INE118H01025", "NSE_EQ|INE002A01018"]
prices = st.integers(min_value=20, max_value=100_000).map(lambda n: round(n * 0.05, 2))


@st.composite
def day_of_bars(draw: st.DrawFn) -> list[Bar]:
    """Random closed 1m bars of 1-3 symbols over one session, with missing minutes."""
    out = []
    for symbol in draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=3, unique=True)):
        for m in sorted(draw(st.sets(st.integers(0, 374), min_size=1, max_size=80))):
            a, b, c, d = (draw(prices) for _ in range(4))
            out.append(Bar(symbol=symbol, ts=OPEN + timedelta(minutes=m), minutes=1, open=a,
                           high=max(a, b, c, d), low=min(a, b, c, d), close=d,
                           volume=draw(st.integers(0, 10_000)), tick_count=draw(st.integers(0, 50)),
                           closed=True))  # fmt: skip
    return out


def columns(bars: list[Bar]) -> DayBars:
    """Build the columns the way the lake does: grouped by symbol, in the order given."""
    symbols = list(dict.fromkeys(b.symbol for b in bars))
    rows = sorted(bars, key=lambda b: (symbols.index(b.symbol), b.ts))
    found = day_bars(
        DAY, symbols, [sum(b.symbol == s for b in bars) for s in symbols],
        np.array([int(b.ts.timestamp()) * 1_000_000 for b in rows]),
        tuple(np.array([getattr(b, f) for b in rows]) for f in ("open", "high", "low", "close")),  # type: ignore[arg-type]
        np.array([b.volume for b in rows]), np.array([b.tick_count for b in rows]),
    )  # fmt: skip
    assert found is not None
    return found


@given(day_of_bars())
def test_columns_hold_the_same_bars_by_symbol_and_time(bars: list[Bar]) -> None:
    got = columns(bars)
    assert got.to_bars() == sorted(bars, key=lambda b: (b.symbol, b.ts))
    assert list(got.symbols) == sorted(got.symbols) and got.rows == len(bars)


@given(day_of_bars(), st.sampled_from([1, 5, 15, 60, 75]))
def test_resample_day_equals_resample(bars: list[Bar], minutes: int) -> None:
    got = resample_day(columns(bars), minutes)
    assert got.bars == resample(bars, minutes)
    for bar in got.bars:  # made without Bar's checks (checked_bar): they pass them all the same
        bar._check()
        assert bar == Bar(**{name: getattr(bar, name) for name in Bar.__slots__})
        assert [type(getattr(bar, n)) for n in ("open", "volume", "closed")] == [float, int, bool]
    assert got.in_time_order() == sorted(resample(bars, minutes), key=lambda b: (b.ts, b.symbol))
    for g, bar in enumerate(got.bars):
        mine = [b for b in bars if b.symbol == bar.symbol and bar.ts <= b.ts < bar.ts + timedelta(minutes=minutes)]  # fmt: skip
        assert (got.first[g], got.last[g]) == tuple((b.ts - OPEN) // timedelta(minutes=1) for b in (mine[0], mine[-1]))  # fmt: skip
        assert got.window[g] == (bar.ts - OPEN) // timedelta(minutes=minutes)


@given(day_of_bars(), st.integers(0, 375))
def test_resample_before_a_minute_takes_the_bars_before_it(bars: list[Bar], before: int) -> None:
    kept = [b for b in bars if b.ts < OPEN + timedelta(minutes=before)]
    assert resample_day(columns(bars), 15, before=before).bars == resample(kept, 15)


def test_rows_the_fast_path_cannot_take_give_none() -> None:
    ts = np.array([int((OPEN + timedelta(minutes=m)).timestamp()) * 1_000_000 for m in (0, 1)])
    ok = (np.array([10.0, 10.0]), np.array([11.0, 11.0]), np.array([9.0, 9.0]), np.array([10.5, 10.5]))  # fmt: skip
    ints = np.array([1, 1])

    def build(ts: np.ndarray = ts, p: tuple[np.ndarray, ...] = ok, v: np.ndarray = ints) -> DayBars | None:  # fmt: skip
        return day_bars(DAY, SYMBOLS[:1], [2], ts, p, v, ints)  # type: ignore[arg-type]

    assert build() is not None
    assert build(ts=ts[::-1]) is None  # out of time order
    assert build(ts=np.array([ts[0], ts[0]])) is None  # two bars for one minute
    assert build(ts=ts + 1) is None  # not on a minute
    assert build(ts=ts - 60_000_000) is None  # before 09:15
    assert build(ts=ts + 375 * 60_000_000) is None  # after 15:29
    assert build(v=np.array([1, -1])) is None
    o, h, lo, c = ok
    for bad in ((o, h, lo, c + 5), (o, lo - 1, lo, c), (o * np.nan, h, lo, c), (o, h * np.inf, lo, c), (-o, h, -h, c)):  # fmt: skip
        assert build(p=bad) is None
    assert day_bars(DAY, ["not a key"], [2], ts, ok, ints, ints) is None


def test_symbols_come_sorted_and_empty_ones_are_dropped() -> None:
    one = np.array([int(OPEN.timestamp()) * 1_000_000])
    p = tuple(np.array([v]) for v in (10.0, 11.0, 9.0, 10.0))
    got = day_bars(DAY, [SYMBOLS[0], SYMBOLS[2], SYMBOLS[1]], [1, 0, 1], np.concatenate([one, one]),
                   tuple(np.concatenate([a, a + 1]) for a in p),  # type: ignore[arg-type]
                   np.array([5, 6]), np.array([1, 2]))  # fmt: skip
    assert SYMBOLS[1] < SYMBOLS[0]
    assert got is not None and got.symbols == (SYMBOLS[1], SYMBOLS[0])
    assert got.open.tolist() == [11.0, 10.0] and got.volume.tolist() == [6, 5]
    assert got.bounds.tolist() == [0, 1, 2]


def test_resample_day_refuses_a_bar_length_it_cannot_make() -> None:
    for bad in (0, -15, True, 15.0, "15"):
        with pytest.raises(InvalidValueError, match="bar length"):
            resample_day(columns([]), bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("minutes", [15])
def test_an_empty_day_resamples_to_nothing(minutes: int) -> None:
    empty = day_bars(DAY, [], [], np.zeros(0, np.int64), (np.zeros(0),) * 4, np.zeros(0, np.int64), np.zeros(0, np.int64))  # type: ignore[arg-type]  # fmt: skip
    assert empty is not None and empty.rows == 0 and resample_day(empty, minutes).bars == []
