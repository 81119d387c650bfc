"""Warm-up without deciding: a strategy's ``warm`` leaves it as ``on_bar`` would, and a runner
warms through it (or through ``on_bar`` for a strategy without one) with the gate's checks and
its failure rule."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pixity.domain import Bar, Bias, RunnerStatus, Signal, SignalState, SignalType
from pixity.live.core import warm_by_symbol, warm_in_order
from pixity.live.runner import Runner
from pixity.markettime import IST
from pixity.strategies import Decision, get_strategy
from pixity.strategies.reference import EmaCrossSpec

KEY = "NSE_EQ|INE155A01022"
OTHER = "NSE_EQ|INE090A01021"


def session_bars(seed: int, days: int, *, symbol: str = KEY, vol: float = 0.004) -> list[Bar]:
    """Return ``days`` sessions of 15m bars of a random walk on the tick grid, with gaps."""
    rng = np.random.default_rng(seed)
    price, out = 100.0, []
    for d in range(days):
        day = date(2025, 6, 2) + timedelta(days=d)
        for slot in range(25):
            if rng.random() < 0.05:
                continue
            price = max(0.05, round(price * math.exp(rng.normal(0, vol)) * 20) / 20)
            high = price + round(abs(rng.normal(0, vol)) * price * 20) / 20
            low = max(0.05, price - round(abs(rng.normal(0, vol)) * price * 20) / 20)
            ts = datetime(day.year, day.month, day.day, 9, 15, tzinfo=IST) + timedelta(
                minutes=15 * slot
            )
            out.append(Bar(
                symbol=symbol, ts=ts, minutes=15, open=price, high=high, low=low, close=price,
                volume=int(rng.integers(0, 10**5)), tick_count=10, closed=True,
            ))  # fmt: skip
    return out


def _decisions_after_warm(make: object, bars: list[Bar], k: int) -> tuple[list[Decision], list[Decision]]:  # fmt: skip
    """Run one instance through ``on_bar`` on every bar and another through ``warm`` on the
    first ``k``; return both instances' decisions on the rest."""
    assert callable(make)
    decided, warmed = make(), make()
    for b in bars[:k]:
        decided.on_bar(b)
        assert warmed.warm(b) is None
    return [decided.on_bar(b) for b in bars[k:]], [warmed.on_bar(b) for b in bars[k:]]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    days=st.integers(1, 4),
    split=st.floats(0.0, 1.0),
    fast=st.integers(1, 4),
    slow_gap=st.integers(1, 6),
    min_confidence=st.sampled_from([0.0, 0.05, 0.5]),
    exit_after=st.integers(0, 5),
)
def test_ema_cross_warm_leaves_it_as_on_bar_does(
    seed: int, days: int, split: float, fast: int, slow_gap: int, min_confidence: float, exit_after: int
) -> None:  # fmt: skip
    spec = EmaCrossSpec(fast=fast, slow=fast + slow_gap, min_confidence=min_confidence, exit_after=exit_after)  # fmt: skip
    bars = session_bars(seed, days)
    k = int(split * len(bars))
    decided, warmed = spec.create(KEY), spec.create(KEY)
    for b in bars[:k]:
        decided.on_bar(b)
        warmed.warm(b)
        assert vars(warmed) == vars(decided)  # every field, the exit countdown too
    assert [decided.on_bar(b) for b in bars[k:]] == [warmed.on_bar(b) for b in bars[k:]]


def test_ema_cross_warm_counts_down_an_exit_within_a_day() -> None:
    """A cross during the warm-up starts the exit count, as on_bar's signal would have."""
    spec = EmaCrossSpec(fast=2, slow=4, min_confidence=0.0, exit_after=3)
    bars = session_bars(11, 1, vol=0.01)
    one = spec.create(KEY)
    fired = [i for i, d in enumerate(one.on_bar(b) for b in bars) if d.signals and d.signals[0].signal_type is not SignalType.EXIT]  # fmt: skip
    assert fired, "the sample walk must cross for this test to mean anything"
    k = fired[0] + 1  # warm up to just after the first entry signal
    a, b = _decisions_after_warm(lambda: spec.create(KEY), bars, k)
    assert a == b and any(d.signals and d.signals[0].signal_type is SignalType.EXIT for d in a)


# ---------------------------------------------------------------- the runner


def runner(strategy: str = "ref_ema_cross", **params: object) -> Runner:
    return Runner(get_strategy(strategy, params or {"fast": 2, "slow": 4, "min_confidence": 0.0}), KEY, "15m")  # fmt: skip


def test_runner_warm_bars_equals_warm_bar_by_bar() -> None:
    bars = session_bars(3, 3)
    one, many = runner(), runner()
    for b in bars[:40]:
        one.warm(b)
    many.warm_bars(bars[:40])
    assert (one.warmed, many.warmed) == (40, 40)
    assert [one.on_bar(b) for b in bars[40:]] == [many.on_bar(b) for b in bars[40:]]
    assert one.state == many.state and one.state.last_error is None


def test_runner_warm_refuses_a_bar_out_of_order_and_marks_the_runner() -> None:
    bars = session_bars(3, 1)
    r = runner()
    r.warm_bars([bars[0], bars[2], bars[1], bars[3]])  # the third goes back in time
    assert r.failed and r.warmed == 2
    assert r.state.status is RunnerStatus.ERROR and "is not after" in (r.state.last_error or "")
    r.warm_bars(bars[4:6])
    assert r.warmed == 2 and r.on_bar(bars[6]).failed


class Counting:
    """A strategy without ``warm``: warm-up decides through ``on_bar``."""

    def __init__(self, bad_at: int | None = None) -> None:
        self.seen = 0
        self.bad_at = bad_at

    def on_bar(self, bar: Bar) -> Decision:
        self.seen += 1
        if self.seen == self.bad_at:  # a signal about another bar: the runner refuses it
            signal = Signal.create(strategy_id="counting", symbol=bar.symbol, timestamp=bar.ts - timedelta(minutes=15), signal_type=SignalType.BUY, confidence=0.5)  # fmt: skip
            return Decision(bias=Bias.BUY, state=SignalState.TRIGGERED, signals=(signal,))
        return Decision(bias=Bias.NEUTRAL, state=SignalState.IDLE)


class CountingSpec:
    strategy_id = "counting"
    timeframe_minutes = 15
    warmup_bars = 1

    def __init__(self, bad_at: int | None = None) -> None:
        self.bad_at = bad_at
        self.made: list[Counting] = []

    def create(self, symbol: str) -> Counting:
        self.made.append(Counting(self.bad_at))
        return self.made[-1]


def test_a_strategy_without_warm_warms_through_on_bar_and_its_signals_are_checked() -> None:
    bars = session_bars(3, 1)
    spec = CountingSpec()
    r = Runner(spec, KEY, "15m")  # type: ignore[arg-type]
    assert not r.gate.learns
    r.warm_bars(bars[:5])
    assert spec.made[0].seen == 5 and r.warmed == 5 and not r.failed
    bad = CountingSpec(bad_at=3)
    r = Runner(bad, KEY, "15m")  # type: ignore[arg-type]
    r.warm_bars(bars[:5])
    assert r.failed and r.warmed == 2 and bad.made[0].seen == 3
    assert "computed on" in (r.state.last_error or "")


class Raising:
    def __init__(self) -> None:
        self.warmed = 0

    def on_bar(self, bar: Bar) -> Decision:
        return Decision(bias=Bias.NEUTRAL, state=SignalState.IDLE)

    def warm(self, bar: Bar) -> None:
        self.warmed += 1
        if self.warmed == 4:
            raise ZeroDivisionError("bad history")


class RaisingSpec(CountingSpec):
    def create(self, symbol: str) -> Raising:  # type: ignore[override]
        return Raising()


def test_a_strategy_whose_warm_raises_marks_its_runner_on_that_bar() -> None:
    bars = session_bars(3, 1)
    r = Runner(RaisingSpec(), KEY, "15m")  # type: ignore[arg-type]
    assert r.gate.learns
    r.warm_bars(bars[:10])
    assert r.failed and r.warmed == 3
    state = r.state
    assert state.status is RunnerStatus.ERROR and "ZeroDivisionError: bad history" in (state.last_error or "")  # fmt: skip


def test_warming_by_symbol_equals_warming_in_time_order() -> None:
    """A runner sees only its symbol's bars: feeding runner by runner is feeding bar by bar."""
    spec = get_strategy("ref_ema_cross", {"fast": 2, "slow": 5, "min_confidence": 0.0})
    mine, other = session_bars(1, 3), session_bars(2, 3, symbol=OTHER)
    in_time = sorted(mine + other, key=lambda b: (b.ts, b.symbol))
    a = [Runner(spec, KEY, "15m"), Runner(spec, OTHER, "15m")]
    b = [Runner(spec, KEY, "15m"), Runner(spec, OTHER, "15m")]
    assert warm_in_order(a, in_time) == len(in_time)
    half = len(mine) // 2
    warm_by_symbol(b, [{KEY: mine[:half], OTHER: other}, {KEY: mine[half:]}, {}])
    later = session_bars(9, 1)
    for x, y in zip(a, b, strict=True):
        assert x.warmed == y.warmed > 0
        bars = [replace_symbol(bar, x.symbol, 3) for bar in later]
        assert [x.on_bar(bar) for bar in bars] == [y.on_bar(bar) for bar in bars]


def replace_symbol(bar: Bar, symbol: str, days: int) -> Bar:
    return replace(bar, symbol=symbol, ts=bar.ts + timedelta(days=days))
