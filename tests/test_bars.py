"""Bars: builder, close policy, disorder rule, and properties against pandas."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixity.bars import (
    BarResampler,
    ClosePolicy,
    TickAggregator,
    TickOutcome,
    bars_from_ticks,
    resample,
)
from pixity.clock import ManualClock
from pixity.domain import Bar, Tick
from pixity.errors import DataIntegrityError, InvalidValueError
from pixity.markettime import IST, ist, session_open

DAY = date(2025, 6, 2)
SYMBOLS = ["NSE_EQ|INE155A01022", "NSE_EQ|INE118H01025", "NSE_EQ|INE002A01018"]
OPEN = session_open(DAY)


def tick(
    symbol: str, at: datetime, price: float, qty: int = 10, seq: int = 0, cum: int | None = None
) -> Tick:
    return Tick(
        symbol=symbol, ts=at, price=price, last_qty=qty, cum_volume=cum, volume=qty, seq=seq
    )


def t(hh: int, mm: int, ss: int = 0, ms: int = 0) -> datetime:
    return datetime(2025, 6, 2, hh, mm, ss, ms * 1000, tzinfo=IST)


# ---------------------------------------------------------------- strategies

prices = st.integers(min_value=20, max_value=100_000).map(lambda n: round(n * 0.05, 2))


@st.composite
def tick_streams(draw: st.DrawFn, max_ticks: int = 300) -> list[Tick]:
    """Random ticks inside one session, in (time, seq) order, over 1-3 symbols."""
    n_sym = draw(st.integers(1, 3))
    n = draw(st.integers(1, max_ticks))
    # Cluster ticks in a few random stretches so that many minutes and windows stay empty.
    centres = draw(st.lists(st.integers(0, 22_499), min_size=1, max_size=6))
    raw = []
    for i in range(n):
        centre = centres[i % len(centres)]
        offset_ms = draw(st.integers(-120_000, 120_000))
        ms = min(max(centre * 1000 + offset_ms, 0), 22_500_000 - 1)
        raw.append((ms, draw(st.integers(0, n_sym - 1)), draw(prices), draw(st.integers(0, 500))))
    raw.sort()
    # A real feed's cumulative volume makes every print distinct; duplicates are tested apart.
    cum = [0] * n_sym
    out = []
    for i, (ms, s, p, q) in enumerate(raw):
        cum[s] += q
        out.append(tick(SYMBOLS[s], OPEN + timedelta(milliseconds=ms), p, q, seq=i, cum=cum[s] + i))
    return out


@st.composite
def minute_bars(draw: st.DrawFn) -> list[Bar]:
    """Random closed 1m bars for one symbol over a session with missing minutes."""
    minutes = draw(st.sets(st.integers(0, 374), min_size=1, max_size=120))
    out = []
    for m in sorted(minutes):
        a, b, c, d = (draw(prices) for _ in range(4))
        lo, hi = min(a, b, c, d), max(a, b, c, d)
        out.append(
            Bar(
                symbol=SYMBOLS[0],
                ts=OPEN + timedelta(minutes=m),
                minutes=1,
                open=a,
                high=hi,
                low=lo,
                close=d,
                volume=draw(st.integers(0, 10_000)),
                tick_count=draw(st.integers(1, 50)),
                closed=True,
            )
        )
    return out


# ---------------------------------------------------------------- properties


@given(tick_streams())
def test_bar_ohlc_bounds_and_contents(ticks: list[Tick]) -> None:
    bars = bars_from_ticks(ticks)
    for bar in bars:
        inside = [
            x
            for x in ticks
            if x.symbol == bar.symbol and bar.ts <= x.ts < bar.ts + timedelta(minutes=1)
        ]
        assert bar.high == max(x.price for x in inside)
        assert bar.low == min(x.price for x in inside)
        assert bar.open == inside[0].price
        assert bar.close == inside[-1].price
        assert bar.tick_count == len(inside)
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high


@given(tick_streams())
def test_volume_and_ticks_conserved(ticks: list[Tick]) -> None:
    for minutes in (1, 15):
        bars = bars_from_ticks(ticks, minutes)
        assert sum(b.volume for b in bars) == sum(x.volume for x in ticks)
        assert sum(b.tick_count for b in bars) == len(ticks)


@given(tick_streams())
def test_ticks_to_15m_equals_ticks_to_1m_to_15m(ticks: list[Tick]) -> None:
    assert bars_from_ticks(ticks, 15) == resample(bars_from_ticks(ticks, 1), 15)


@given(tick_streams())
def test_no_bar_outside_session_and_aligned(ticks: list[Tick]) -> None:
    for minutes in (1, 15, 60):
        for bar in bars_from_ticks(ticks, minutes):
            assert OPEN <= bar.ts < OPEN + timedelta(minutes=375)
            assert (bar.ts - OPEN).total_seconds() % (minutes * 60) == 0


@given(tick_streams(), st.randoms(use_true_random=False))
def test_arrival_order_inside_a_bar_does_not_matter(ticks: list[Tick], rnd: random.Random) -> None:
    """Shuffling ticks within their own minute gives the same bars, with disorder counted."""
    expected = bars_from_ticks(ticks)
    by_minute: dict[tuple[datetime, str], list[Tick]] = {}
    for x in ticks:
        by_minute.setdefault((x.ts.replace(second=0, microsecond=0), x.symbol), []).append(x)
    shuffled: list[Tick] = []
    for key in sorted(by_minute):
        group = by_minute[key][:]
        rnd.shuffle(group)
        shuffled.extend(group)
    out: list[Bar] = []
    agg = TickAggregator(minutes=1, on_bar=out.append, clock=ManualClock(OPEN))
    outcomes = [agg.on_tick(x) for x in shuffled]
    agg.close_all()
    assert TickOutcome.LATE not in outcomes
    assert sorted(out, key=lambda b: (b.symbol, b.ts)) == expected
    assert agg.counts[TickOutcome.ACCEPTED] + agg.counts[TickOutcome.OUT_OF_ORDER] == len(ticks)


@given(minute_bars())
def test_resample_equals_pandas_resample(bars: list[Bar]) -> None:
    frame = pd.DataFrame(
        {
            "open": [b.open for b in bars],
            "high": [b.high for b in bars],
            "low": [b.low for b in bars],
            "close": [b.close for b in bars],
            "volume": [b.volume for b in bars],
        },
        index=pd.DatetimeIndex([b.ts for b in bars]),
    )
    expected = (
        frame.resample("15min", origin=pd.Timestamp(OPEN), label="left", closed="left")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        .dropna(subset=["open"])
    )
    got = resample(bars, 15)
    assert [b.ts for b in got] == [ts.to_pydatetime() for ts in expected.index]
    assert [b.open for b in got] == expected["open"].tolist()
    assert [b.high for b in got] == expected["high"].tolist()
    assert [b.low for b in got] == expected["low"].tolist()
    assert [b.close for b in got] == expected["close"].tolist()
    assert [b.volume for b in got] == expected["volume"].astype(int).tolist()
    assert all(b.closed and b.minutes == 15 for b in got)


@given(tick_streams(max_ticks=150), st.integers(0, 1999))
def test_streaming_with_clock_equals_batch(ticks: list[Tick], lag_ms: int) -> None:
    """Ticks in order, with a clock running up to (not past) the grace ahead: batch result."""
    out: list[Bar] = []
    clock = ManualClock(OPEN)
    agg = TickAggregator(minutes=1, on_bar=out.append, clock=clock, grace=timedelta(seconds=2))
    for x in ticks:
        ahead = x.ts + timedelta(milliseconds=lag_ms)
        if ahead > clock.now():
            clock.set(ahead)
        agg.on_time()
        assert agg.on_tick(x) is TickOutcome.ACCEPTED
    clock.advance(timedelta(minutes=2))
    agg.on_time()
    assert sorted(out, key=lambda b: (b.symbol, b.ts)) == bars_from_ticks(ticks)
    # Time order per symbol, and every bar closed.
    for sym in {b.symbol for b in out}:
        mine = [b.ts for b in out if b.symbol == sym]
        assert mine == sorted(mine)
    assert all(b.closed for b in out)


@given(minute_bars())
def test_streaming_resampler_equals_batch(bars: list[Bar]) -> None:
    out: list[Bar] = []
    clock = ManualClock(OPEN)
    res = BarResampler(minutes=15, on_bar=out.append, clock=clock)
    for b in bars:
        res.on_bar(b)
    res.close_all()
    assert out == resample(bars, 15)


# ---------------------------------------------------------------- examples


def test_bar_closes_on_tick_past_its_end() -> None:
    out: list[Bar] = []
    agg = TickAggregator(minutes=1, on_bar=out.append, clock=ManualClock(t(9, 15)))
    agg.on_tick(tick(SYMBOLS[0], t(9, 15, 1), 100.0, seq=1))
    agg.on_tick(tick(SYMBOLS[0], t(9, 15, 59, 999), 101.0, seq=2))
    assert out == []
    agg.on_tick(tick(SYMBOLS[0], t(9, 16, 0), 102.0, seq=3))
    assert [(b.ts, b.open, b.close, b.closed) for b in out] == [(t(9, 15), 100.0, 101.0, True)]
    assert [b.ts for b in agg.forming()] == [t(9, 16)]
    assert agg.forming()[0].closed is False


def test_bar_closes_when_clock_passes_end_plus_grace() -> None:
    out: list[Bar] = []
    clock = ManualClock(t(9, 15, 30))
    agg = TickAggregator(minutes=1, on_bar=out.append, clock=clock, grace=timedelta(seconds=2))
    agg.on_tick(tick(SYMBOLS[0], t(9, 15, 30), 100.0))
    clock.set(t(9, 16, 1, 999))
    assert agg.on_time() == 0
    clock.set(t(9, 16, 2))
    assert agg.on_time() == 1
    assert out[0].ts == t(9, 15) and out[0].closed


def test_late_tick_is_counted_and_not_applied() -> None:
    out: list[Bar] = []
    clock = ManualClock(t(9, 15))
    agg = TickAggregator(minutes=1, on_bar=out.append, clock=clock)
    agg.on_tick(tick(SYMBOLS[0], t(9, 15, 10), 100.0, seq=1))
    clock.set(t(9, 16, 5))
    agg.on_time()
    assert agg.on_tick(tick(SYMBOLS[0], t(9, 15, 50), 90.0, seq=2)) is TickOutcome.LATE
    agg.on_tick(tick(SYMBOLS[0], t(9, 17, 0), 101.0, seq=3))
    # older than the forming 09:17 bar although 09:16 never had a bar
    assert agg.on_tick(tick(SYMBOLS[0], t(9, 16, 30), 99.0, seq=4)) is TickOutcome.LATE
    agg.close_all()
    assert [(b.ts, b.low) for b in out] == [(t(9, 15), 100.0), (t(9, 17), 101.0)]
    assert agg.counts[TickOutcome.LATE] == 2
    assert agg.rejected == 2


def test_duplicate_tick_is_counted_and_not_applied() -> None:
    out: list[Bar] = []
    agg = TickAggregator(minutes=1, on_bar=out.append, clock=ManualClock(t(9, 15)))
    first = tick(SYMBOLS[0], t(9, 15, 10), 100.0, qty=5, seq=1, cum=1000)
    again = tick(SYMBOLS[0], t(9, 15, 10), 100.0, qty=5, seq=2, cum=1000)  # resent frame
    assert agg.on_tick(first) is TickOutcome.ACCEPTED
    assert agg.on_tick(again) is TickOutcome.DUPLICATE
    agg.close_all()
    assert out[0].volume == 5 and out[0].tick_count == 1
    assert agg.counts == {TickOutcome.ACCEPTED: 1, TickOutcome.DUPLICATE: 1}


def test_out_of_order_inside_bar_is_applied_and_counted() -> None:
    out: list[Bar] = []
    agg = TickAggregator(minutes=1, on_bar=out.append, clock=ManualClock(t(9, 15)))
    agg.on_tick(tick(SYMBOLS[0], t(9, 15, 30), 101.0, seq=1))
    assert agg.on_tick(tick(SYMBOLS[0], t(9, 15, 10), 100.0, seq=2)) is TickOutcome.OUT_OF_ORDER
    agg.close_all()
    # open is the earliest by exchange time even though it arrived second
    assert (out[0].open, out[0].close) == (100.0, 101.0)


@pytest.mark.parametrize("at", [t(9, 14, 59), t(15, 30), t(3, 0), t(18, 0)])
def test_tick_outside_session_is_counted(at: datetime) -> None:
    out: list[Bar] = []
    agg = TickAggregator(minutes=1, on_bar=out.append, clock=ManualClock(t(9, 15)))
    assert agg.on_tick(tick(SYMBOLS[0], at, 100.0)) is TickOutcome.OUTSIDE_SESSION
    agg.close_all()
    assert out == [] and agg.rejected == 1


def test_last_15m_bar_and_60m_bar_cut_at_close() -> None:
    ticks = [
        tick(SYMBOLS[0], t(15, 29, 59), 100.0, seq=1),
        tick(SYMBOLS[0], t(15, 15), 99.0, seq=0),
    ]
    (b15,) = bars_from_ticks(ticks, 15)
    assert b15.ts == t(15, 15) and b15.open == 99.0 and b15.close == 100.0
    (b60,) = bars_from_ticks(ticks, 60)
    assert b60.ts == t(15, 15)


def test_resampler_closes_window_on_its_last_minute() -> None:
    out: list[Bar] = []
    res = BarResampler(minutes=15, on_bar=out.append, clock=ManualClock(t(9, 15)))
    mk = lambda m: Bar(  # noqa: E731
        symbol=SYMBOLS[0],
        ts=t(9, 15) + timedelta(minutes=m),
        minutes=1,
        open=1.0,
        high=2.0,
        low=0.5,
        close=1.5,
        volume=3,
        tick_count=2,
        closed=True,
    )
    res.on_bar(mk(0))
    assert out == []
    res.on_bar(mk(14))
    assert len(out) == 1 and out[0].ts == t(9, 15) and out[0].volume == 6 and out[0].tick_count == 4


def test_resampler_closes_window_by_clock_when_last_minute_is_missing() -> None:
    out: list[Bar] = []
    clock = ManualClock(t(9, 20))
    res = BarResampler(minutes=15, on_bar=out.append, clock=clock, grace=timedelta(seconds=3))
    res.on_bar(
        Bar(
            symbol=SYMBOLS[0],
            ts=t(9, 20),
            minutes=1,
            open=1.0,
            high=1.0,
            low=1.0,
            close=1.0,
            volume=1,
            tick_count=1,
            closed=True,
        )
    )
    clock.set(t(9, 30, 2))
    assert res.on_time() == 0
    clock.set(t(9, 30, 3))
    assert res.on_time() == 1 and out[0].ts == t(9, 15)


def test_resampler_refuses_forming_and_misfit_bars() -> None:
    res = BarResampler(minutes=15, on_bar=[].append, clock=ManualClock(t(9, 15)))
    forming = Bar(
        symbol=SYMBOLS[0],
        ts=t(9, 15),
        minutes=1,
        open=1.0,
        high=1.0,
        low=1.0,
        close=1.0,
        volume=1,
        tick_count=1,
        closed=False,
    )
    with pytest.raises(InvalidValueError, match="forming"):
        res.on_bar(forming)
    with pytest.raises(InvalidValueError, match="7m"):
        BarResampler(minutes=15, on_bar=[].append, clock=ManualClock(t(9, 15))).on_bar(
            Bar(
                symbol=SYMBOLS[0],
                ts=t(9, 15),
                minutes=7,
                open=1.0,
                high=1.0,
                low=1.0,
                close=1.0,
                volume=1,
                tick_count=1,
                closed=True,
            )
        )


def test_resample_rejects_two_bars_for_one_minute() -> None:
    b = Bar(
        symbol=SYMBOLS[0],
        ts=t(9, 15),
        minutes=1,
        open=1.0,
        high=1.0,
        low=1.0,
        close=1.0,
        volume=1,
        tick_count=1,
        closed=True,
    )
    with pytest.raises(DataIntegrityError, match="two 1m bars"):
        resample([b, b], 15)


def test_close_policy_on_its_own() -> None:
    from pixity.bars import BarBuilder

    policy = ClosePolicy(15, grace=timedelta(seconds=5))
    builder = BarBuilder(SYMBOLS[0], policy.start_of(ist(2025, 6, 2, 9, 44, 59)), 15)
    assert builder.start == t(9, 30) and builder.end == t(9, 45)
    assert not policy.closed_by_input(builder, t(9, 44, 59))
    assert policy.closed_by_input(builder, t(9, 45))
    assert not policy.closed_by_clock(builder, t(9, 45, 4))
    assert policy.closed_by_clock(builder, t(9, 45, 5))


@given(
    st.integers(min_value=0, max_value=374 * 60 * 1000 - 1),
    st.sampled_from([1, 5, 15, 60]),
    st.sampled_from(["Asia/Kolkata", "UTC", "America/New_York"]),
)
def test_cached_bar_spans_equal_the_uncached_ones(offset_ms: int, minutes: int, zone: str) -> None:
    from pixity.bars import BarBuilder
    from pixity.markettime import bar_end, bar_start, to_epoch_ms

    when = (OPEN + timedelta(milliseconds=offset_ms)).astimezone(ZoneInfo(zone))
    start = ClosePolicy(minutes).start_of(when)
    assert start == bar_start(when, minutes) and start.tzinfo is IST
    builder = BarBuilder(SYMBOLS[0], start, minutes)
    assert builder.end == bar_end(start, minutes) and builder.end.tzinfo is IST
    assert (builder.start_ms, builder.end_ms) == (to_epoch_ms(start), to_epoch_ms(builder.end))


def test_a_datetime_subclass_reaches_no_other_callers_through_the_caches() -> None:
    from pixity.bars import BarBuilder, _minute_bar_start, _span

    _span.cache_clear()  # so that the Timestamp is the first caller, whatever ran before
    _minute_bar_start.cache_clear()
    stamp = pd.Timestamp(t(10, 2, 30))  # first: it would be what the caches keep
    assert ClosePolicy(1).start_of(stamp) == t(10, 2)
    BarBuilder(SYMBOLS[0], pd.Timestamp(t(10, 2)), 1)
    assert type(ClosePolicy(1).start_of(t(10, 2, 30))) is datetime
    assert type(BarBuilder(SYMBOLS[0], t(10, 2), 1).end) is datetime
    with pytest.raises(InvalidValueError, match="outside"):  # refused each time, not cached
        ClosePolicy(1).start_of(t(15, 31))
    with pytest.raises(InvalidValueError, match="outside"):
        ClosePolicy(1).start_of(t(15, 31))


def test_builder_refuses_tick_outside_its_bar() -> None:
    from pixity.bars import BarBuilder

    builder = BarBuilder(SYMBOLS[0], t(9, 15), 1)
    with pytest.raises(InvalidValueError, match="outside bar"):
        builder.add_tick(tick(SYMBOLS[0], t(9, 16), 1.0))
    with pytest.raises(InvalidValueError, match="no data"):
        builder.build(closed=True)
