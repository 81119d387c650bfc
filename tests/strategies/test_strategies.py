"""The strategy interface: registry, closed-bar gate, and the reference strategy's rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from pixity.domain import Bar, Bias, Signal, SignalState, SignalType
from pixity.errors import ConfigError, InvalidValueError
from pixity.markettime import IST
from pixity.strategies import ClosedBarGate, Decision, available, get_strategy, quiet
from pixity.strategies.reference import EmaCrossSpec

KEY = "NSE_EQ|INE155A01022"
T0 = datetime(2025, 6, 2, 9, 15, tzinfo=IST)


def bar(i: int, close: float, *, closed: bool = True, minutes: int = 15, day: int = 0) -> Bar:
    ts = T0 + timedelta(days=day, minutes=minutes * i)
    return Bar(
        symbol=KEY, ts=ts, minutes=minutes, open=close, high=close + 1, low=close - 1,
        close=close, volume=100, tick_count=10, closed=closed,
    )  # fmt: skip


def test_registry_knows_the_reference_and_refuses_unknown_ids() -> None:
    assert "ref_ema_cross" in available()
    with pytest.raises(ConfigError, match="ref_ema_cross"):
        get_strategy("no_such_strategy")


def test_unknown_and_bad_parameters_are_refused() -> None:
    with pytest.raises(ConfigError, match="fastest"):
        get_strategy("ref_ema_cross", {"fastest": 2})
    with pytest.raises(ConfigError, match="fast < slow"):
        get_strategy("ref_ema_cross", {"fast": 8, "slow": 3})
    spec = get_strategy("ref_ema_cross", {"fast": 2, "slow": 5})
    assert spec.warmup_bars == 5 and spec.timeframe_minutes == 15


@pytest.mark.parametrize(
    ("offered", "match"),
    [
        (bar(0, 100.0, closed=False), "forming"),
        (bar(0, 100.0, minutes=1), "1m bar"),
        (replace(bar(0, 100.0), symbol="NSE_EQ|INE002A01018"), "offered to the strategy of"),
    ],
)
def test_gate_refuses_forming_and_wrong_length_bars(offered: Bar, match: str) -> None:
    seen: list[Bar] = []

    class Recorder:
        def on_bar(self, b: Bar) -> Decision:
            seen.append(b)
            return Decision(bias=Bias.NEUTRAL, state=SignalState.IDLE)

    gate = ClosedBarGate(Recorder(), symbol=KEY, minutes=15)
    with pytest.raises(InvalidValueError, match=match):
        gate.on_bar(offered)
    assert seen == []


def test_gate_refuses_bars_out_of_order() -> None:
    spec = get_strategy("ref_ema_cross")
    gate = ClosedBarGate(spec.create(KEY), symbol=KEY, minutes=15)
    gate.on_bar(bar(1, 100.0))
    with pytest.raises(InvalidValueError, match="not after"):
        gate.on_bar(bar(1, 100.0))
    with pytest.raises(InvalidValueError, match="not after"):
        gate.on_bar(bar(0, 100.0))
    assert gate.last_bar_ts == bar(1, 100.0).ts


def test_decision_state_must_match_its_signals() -> None:
    signal = Signal.create(
        strategy_id="ref_ema_cross", symbol=KEY, timestamp=T0, signal_type=SignalType.BUY,
        confidence=0.5,
    )  # fmt: skip
    with pytest.raises(InvalidValueError):
        Decision(bias=Bias.BUY, state=SignalState.IDLE, signals=(signal,))
    with pytest.raises(InvalidValueError):
        Decision(bias=Bias.BUY, state=SignalState.TRIGGERED)


def test_quiet_is_the_decision_without_signals_and_refuses_what_it_refuses() -> None:
    for bias in Bias:
        for state in (SignalState.IDLE, SignalState.SETUP):
            assert quiet(bias, state) == Decision(bias=bias, state=state)
            assert quiet(bias, state) is quiet(bias, state)
    with pytest.raises(InvalidValueError):
        quiet(Bias.BUY, SignalState.TRIGGERED)
    with pytest.raises(InvalidValueError):
        quiet("BUY", SignalState.IDLE)  # type: ignore[arg-type]  # equal to Bias.BUY, not one
    with pytest.raises(InvalidValueError):
        quiet(Bias.BUY, "IDLE")  # type: ignore[arg-type]


def run(closes: list[float], **params: object) -> list[Decision]:
    strategy = EmaCrossSpec.from_params(params).create(KEY)
    return [strategy.on_bar(bar(i, c)) for i, c in enumerate(closes)]


def test_reference_is_neutral_until_warm_then_follows_the_averages() -> None:
    decisions = run([100.0] * 3 + [101.0, 102.0, 103.0], fast=2, slow=4, exit_after=0)
    assert [d.bias for d in decisions[:3]] == [Bias.NEUTRAL] * 3
    assert decisions[-1].bias is Bias.BUY
    assert all(not d.signals for d in decisions)  # no cross from below: no signal


def test_reference_emits_on_a_cross_with_the_bar_time_and_exits_later() -> None:
    closes = [100.0, 99.0, 98.0, 97.0, 96.0, 100.0, 104.0, 105.0, 106.0, 107.0, 108.0]
    decisions = run(closes, fast=2, slow=4, min_confidence=0.0, exit_after=2)
    fired = [(i, d.signals[0]) for i, d in enumerate(decisions) if d.signals]
    kinds = [s.signal_type for _, s in fired]
    assert kinds[0] is SignalType.BUY and SignalType.EXIT in kinds
    for i, signal in fired:
        assert signal.timestamp == bar(i, closes[i]).ts  # bar_ts = the bar it was computed on
        assert 0.0 <= signal.confidence <= 1.0
        assert decisions[i].state is SignalState.TRIGGERED
    buy_at = fired[0][0]
    exit_at = next(i for i, s in fired if s.signal_type is SignalType.EXIT)
    assert exit_at - buy_at == 2


def test_reference_below_min_confidence_is_a_setup_not_a_signal() -> None:
    closes = [100.0, 99.9, 99.8, 99.7, 99.6, 99.7, 99.8, 99.9]
    decisions = run(closes, fast=2, slow=4, min_confidence=0.99)
    assert any(d.state is SignalState.SETUP for d in decisions)
    assert all(not d.signals for d in decisions)


def test_reference_is_deterministic() -> None:
    closes = [100 + (i * 7 % 5) - 2.0 for i in range(40)]
    first = [d.signals for d in run(closes, fast=2, slow=5, min_confidence=0.0)]
    second = [d.signals for d in run(closes, fast=2, slow=5, min_confidence=0.0)]
    assert first == second and any(first)
