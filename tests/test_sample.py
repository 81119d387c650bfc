"""The seeded sample market: deterministic, independent per day, and NSE-like."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from datetime import date, datetime, time
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixity.domain import Tick
from pixity.errors import InvalidValueError
from pixity.frames import BAR_DTYPES
from pixity.markettime import IST, ist, nse_calendar
from pixity.sample import TICK_SIZE, SampleMarket, SymbolProfile

LIQUID = "NSE_EQ|INE155A01022"
ILLIQUID = "NSE_EQ|INE467B01029"
QUIET = SymbolProfile(base_price=812.35, ticks_per_minute=3.0)
DAY = date(2024, 3, 5)


@pytest.fixture(scope="module")
def market() -> SampleMarket:
    return SampleMarket([LIQUID, ILLIQUID], seed=7, profiles={ILLIQUID: QUIET})


@pytest.fixture(scope="module")
def day_ticks(market: SampleMarket) -> list[Tick]:
    return market.ticks(DAY)


@pytest.fixture(scope="module")
def march_days() -> list[date]:
    return nse_calendar().trading_days(date(2024, 3, 1), date(2024, 3, 15))


def by_symbol(ticks: list[Tick]) -> dict[str, list[Tick]]:
    out: dict[str, list[Tick]] = defaultdict(list)
    for tick in ticks:
        out[tick.symbol].append(tick)
    return out


def trades(ticks: list[Tick]) -> list[tuple[str, datetime, float, int, int | None, int]]:
    """Return what identifies the trades, leaving out ``seq`` (it depends on the symbol set)."""
    return [(t.symbol, t.ts, t.price, t.last_qty, t.cum_volume, t.volume) for t in ticks]


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_identical_ticks(day_ticks: list[Tick]) -> None:
    again = SampleMarket([LIQUID, ILLIQUID], seed=7, profiles={ILLIQUID: QUIET}).ticks(DAY)
    assert again == day_ticks


def test_different_seed_gives_different_ticks(day_ticks: list[Tick]) -> None:
    other = SampleMarket([LIQUID, ILLIQUID], seed=8, profiles={ILLIQUID: QUIET}).ticks(DAY)
    assert trades(other) != trades(day_ticks)


def test_known_digest_so_every_machine_agrees() -> None:
    # Pinned: a change here means notebooks, tests and demos see a different market.
    ticks = SampleMarket([LIQUID], seed=7).ticks(date(2024, 1, 2))
    digest = hashlib.sha256(repr(trades(ticks)).encode()).hexdigest()[:16]
    assert digest == "2a0e14823f7ddc32"


def test_day_does_not_depend_on_other_days_or_their_order(march_days: list[date]) -> None:
    first, later = march_days[0], march_days[5]
    fresh = SampleMarket([LIQUID], seed=3).ticks(first)
    used = SampleMarket([LIQUID], seed=3)
    used.ticks(later)
    used.ticks(march_days[2])
    assert used.ticks(first) == fresh


def test_symbol_does_not_depend_on_the_other_symbols(day_ticks: list[Tick]) -> None:
    alone = SampleMarket([LIQUID], seed=7).ticks(DAY)
    assert trades(alone) == trades(by_symbol(day_ticks)[LIQUID])


# ---------------------------------------------------------------- realism


def test_prices_are_positive_multiples_of_the_tick(day_ticks: list[Tick]) -> None:
    for tick in day_ticks:
        steps = tick.price / TICK_SIZE
        assert tick.price > 0
        assert abs(steps - round(steps)) < 1e-9, tick
        assert tick.price == round(tick.price, 2)


def test_ticks_lie_in_the_session_in_time_order(day_ticks: list[Tick]) -> None:
    assert [t.seq for t in day_ticks] == list(range(1, len(day_ticks) + 1))
    assert all(a.ts <= b.ts for a, b in pairwise(day_ticks))
    for tick in day_ticks:
        assert tick.ts.tzinfo is IST
        assert tick.ts.date() == DAY
        assert time(9, 15) <= tick.ts.time() < time(15, 30)


def test_cum_volume_rises_and_volumes_add_up(day_ticks: list[Tick]) -> None:
    for symbol, ticks in by_symbol(day_ticks).items():
        cums = [t.cum_volume for t in ticks]
        assert all(c is not None for c in cums)
        assert all(a < b for a, b in pairwise(cums)), symbol  # type: ignore[operator]
        assert ticks[0].volume == ticks[0].last_qty == ticks[0].cum_volume
        for prev, tick in pairwise(ticks):
            assert tick.volume == tick.cum_volume - prev.cum_volume  # type: ignore[operator]
            assert tick.volume >= tick.last_qty >= 1
        assert sum(t.volume for t in ticks) == cums[-1]


def test_liquid_symbol_trades_often_enough(day_ticks: list[Tick]) -> None:
    per_minute = len(by_symbol(day_ticks)[LIQUID]) / 375
    assert 10 < per_minute < 120


def test_activity_is_u_shaped(market: SampleMarket, march_days: list[date]) -> None:
    opening, midday, closing = [], [], []
    for day in march_days[:6]:
        counts = np.zeros(375)
        for bar in market.bars_1m(day):
            if bar.symbol == LIQUID:
                counts[(bar.ts.hour * 60 + bar.ts.minute) - (9 * 60 + 15)] = bar.tick_count
        opening.append(counts[:30].mean())
        midday.append(counts[150:225].mean())
        closing.append(counts[-30:].mean())
    assert np.mean(opening) > 1.5 * np.mean(midday)
    assert np.mean(closing) > 1.5 * np.mean(midday)


def test_illiquid_symbol_has_quiet_minutes_and_no_invented_bars(
    market: SampleMarket, march_days: list[date]
) -> None:
    for day in march_days[:3]:
        bars = [b for b in market.bars_1m(day) if b.symbol == ILLIQUID]
        assert 150 < len(bars) < 375
        assert all(b.tick_count > 0 and b.volume > 0 for b in bars)
        liquid = [b for b in market.bars_1m(day) if b.symbol == LIQUID]
        assert len(liquid) == 375


def test_bars_are_closed_one_minute_bars(market: SampleMarket) -> None:
    bars = market.bars_1m(DAY)
    assert all(b.closed and b.minutes == 1 for b in bars)
    assert bars == sorted(bars, key=lambda b: (b.symbol, b.ts))


def test_open_follows_previous_close_except_on_gap_days() -> None:
    sample = SampleMarket([LIQUID, ILLIQUID], seed=11)
    days = nse_calendar().trading_days(date(2023, 1, 2), date(2023, 12, 29))
    gap_days = 0
    for symbol in sample.symbols:
        for prev, day in pairwise(days):
            plan = sample.day_plan(symbol, day)
            assert plan.prev_close == sample.day_plan(symbol, prev).close
            assert math.isclose(plan.open / plan.prev_close - 1, plan.gap, abs_tol=1e-12)
            if plan.gap_day:
                gap_days += 1
                assert 0.0099 < abs(plan.gap) < 0.041
            else:
                assert abs(plan.gap) < 0.012
    assert 5 < gap_days < 60  # about 6 % of ~490 symbol-days


def test_first_trade_is_near_the_previous_last_trade(march_days: list[date]) -> None:
    sample = SampleMarket([LIQUID], seed=7)
    for prev, day in pairwise(march_days[:5]):
        last = sample.ticks(prev)[-1].price
        first = sample.ticks(day)[0].price
        limit = 0.05 if sample.day_plan(LIQUID, day).gap_day else 0.015
        assert abs(first / last - 1) < limit


def test_volatile_days_and_calm_days_both_occur() -> None:
    sample = SampleMarket([LIQUID], seed=7)
    days = nse_calendar().trading_days(date(2023, 1, 2), date(2023, 12, 29))
    volatile = [sample.day_plan(LIQUID, d).volatile for d in days]
    assert 0.05 < np.mean(volatile) < 0.5


def test_price_level_stays_sane_over_the_whole_calendar() -> None:
    sample = SampleMarket([LIQUID], seed=7)
    base = sample.profiles[LIQUID].base_price
    cal = nse_calendar()
    closes = [
        sample.day_plan(LIQUID, d).close for d in cal.trading_days(cal.first_day, cal.last_day)
    ]
    assert base / 5 < min(closes) and max(closes) < base * 5


@settings(max_examples=15)
@given(seed=st.integers(0, 2**32), offset=st.integers(0, 700))
def test_invariants_hold_for_any_seed_and_day(seed: int, offset: int) -> None:
    day = nse_calendar().trading_days(date(2022, 1, 3), date(2024, 12, 31))[offset]
    ticks = SampleMarket([ILLIQUID], seed=seed, profiles={ILLIQUID: QUIET}).ticks(day)
    assert ticks
    for prev, tick in pairwise(ticks):
        assert prev.ts <= tick.ts and prev.seq < tick.seq
        assert prev.cum_volume is not None and tick.cum_volume is not None
        assert tick.cum_volume > prev.cum_volume
        assert abs(tick.price * 20 - round(tick.price * 20)) < 1e-9


# ---------------------------------------------------------------- API


def test_iter_ticks_spans_days_with_start_inclusive_end_exclusive(
    market: SampleMarket, march_days: list[date]
) -> None:
    first, second = march_days[0], march_days[1]
    start = ist(first.year, first.month, first.day, 15, 0)
    end = ist(second.year, second.month, second.day, 9, 30)
    got = list(market.iter_ticks(start, end))
    expected = [t for t in market.ticks(first) + market.ticks(second) if start <= t.ts < end]
    assert got == expected
    assert {t.ts.date() for t in got} == {first, second}


def test_iter_ticks_rejects_naive_times(market: SampleMarket) -> None:
    with pytest.raises(InvalidValueError, match="naive"):
        list(market.iter_ticks(datetime(2024, 3, 5, 9, 15), ist(2024, 3, 5, 10)))  # noqa: DTZ001


def test_bars_frame_has_the_lake_columns(market: SampleMarket, march_days: list[date]) -> None:
    frame = market.bars_frame(march_days[:2])
    assert list(frame.columns) == list(BAR_DTYPES)
    assert dict(frame.dtypes) == BAR_DTYPES
    assert frame.equals(frame.sort_values(["symbol", "bar_ts"]).reset_index(drop=True))
    assert len(frame) == len(market.bars_1m(march_days[0])) + len(market.bars_1m(march_days[1]))


def test_ticks_frame_has_the_ticks_table_columns(market: SampleMarket) -> None:
    frame = market.ticks_frame(DAY)
    assert list(frame.columns) == ["symbol", "ltt", "ltp", "ltq", "vtt", "seq", "volume"]
    assert len(frame) == len(market.ticks(DAY))


@pytest.mark.parametrize(
    ("symbols", "match"),
    [([], "non-empty"), ([LIQUID, LIQUID], "duplicates"), (["RELIANCE"], "instrument key")],
)
def test_bad_symbols_are_refused(symbols: list[str], match: str) -> None:
    with pytest.raises(InvalidValueError, match=match):
        SampleMarket(symbols)


def test_non_trading_day_is_refused(market: SampleMarket) -> None:
    with pytest.raises(InvalidValueError, match="not an NSE trading day"):
        market.ticks(date(2024, 3, 9))  # a Saturday
