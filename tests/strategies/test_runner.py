"""A runner's state after each live bar is the same whether it is asked for on every bar (a
live session) or only at the end (a backtest), and what the constructor refuses still fails."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pixity.domain import Bar, Bias, RunnerState, RunnerStatus, SignalState
from pixity.errors import InvalidValueError
from pixity.live.runner import Runner
from pixity.markettime import IST
from pixity.strategies import Decision, get_strategy

KEY = "NSE_EQ|INE155A01022"
T0 = datetime(2025, 6, 2, 9, 15, tzinfo=IST)


def bars(n: int, *, tz: timezone | None = None) -> list[Bar]:
    out = []
    for i in range(n):
        close = 100.0 + (i * 7 % 5) - 2.0
        ts = T0 + timedelta(minutes=15 * i)
        out.append(Bar(
            symbol=KEY, ts=ts if tz is None else ts.astimezone(tz), minutes=15, open=close,
            high=close + 1, low=close - 1, close=close, volume=100, tick_count=10, closed=True,
        ))  # fmt: skip
    return out


def runner() -> Runner:
    spec = get_strategy("ref_ema_cross", {"fast": 2, "slow": 4, "min_confidence": 0.0})
    return Runner(spec, KEY, "15m")


@pytest.mark.parametrize("tz", [None, UTC])
def test_the_state_is_the_same_asked_for_on_every_bar_or_at_the_end(tz: timezone | None) -> None:
    every, end = runner(), runner()
    history, live = bars(30, tz=tz)[:6], bars(30, tz=tz)[6:]
    for b in history:
        every.warm(b)
        end.warm(b)
    states: list[RunnerState] = []
    for i, b in enumerate(live):
        a, z = every.on_bar(b), end.on_bar(b)
        assert (a.signals, a.failed) == (z.signals, z.failed)
        states.append(every.state)
        if i == 3:
            assert every.set_status(RunnerStatus.STALE, "no bars") and end.set_status(RunnerStatus.STALE, "no bars")  # fmt: skip
    assert end.state == states[-1] and states[-1].status is RunnerStatus.RUNNING
    assert states[-1].last_bar_ts == live[-1].ts and states[3].last_error is None
    assert not end.failed


def test_a_runner_short_of_history_says_so_until_it_has_seen_enough() -> None:
    r = runner()
    for b in bars(2):
        r.on_bar(b)
    assert r.state.status is RunnerStatus.RUNNING and "warming up" in (r.state.last_error or "")
    for b in bars(6)[2:]:
        r.on_bar(b)
    assert r.state.last_error is None


@dataclass
class NotADecision:
    bias: object
    state: object
    signals: tuple[object, ...] = ()


class Sloppy:
    def __init__(self, bias: object) -> None:
        self.bias = bias

    def on_bar(self, bar: Bar) -> NotADecision:
        return NotADecision(bias=self.bias, state=SignalState.IDLE)


class SloppySpec:
    strategy_id = "sloppy"
    timeframe_minutes = 15
    warmup_bars = 1

    def __init__(self, bias: object) -> None:
        self.bias = bias

    def create(self, symbol: str) -> Sloppy:
        return Sloppy(self.bias)


def test_what_is_not_a_decision_is_checked_on_its_bar() -> None:
    good = Runner(SloppySpec(Bias.BUY), KEY, "15m")  # type: ignore[arg-type]
    good.on_bar(bars(1)[0])
    assert good.state.current_bias is Bias.BUY
    bad = Runner(SloppySpec("BUY?"), KEY, "15m")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="current_bias"):
        bad.on_bar(bars(1)[0])  # refused on the bar, as it always was


def test_a_failing_strategy_marks_the_runner_and_it_takes_no_more_bars() -> None:
    class Failing:
        def on_bar(self, bar: Bar) -> Decision:
            raise RuntimeError("boom")

    class FailingSpec(SloppySpec):
        def create(self, symbol: str) -> Failing:  # type: ignore[override]
            return Failing()

    r = Runner(FailingSpec(Bias.BUY), KEY, "15m")  # type: ignore[arg-type]
    assert r.on_bar(bars(1)[0]).failed and r.failed
    assert r.state.status is RunnerStatus.ERROR and "boom" in (r.state.last_error or "")
    r.warm(bars(2)[1])
    assert r.on_bar(bars(3)[2]).failed
