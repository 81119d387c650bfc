"""What strategies emit is checked as strictly on its fast paths (known strategy ids and
timeframes, plain float confidences, remembered bar times) as on the first object."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from datetime import UTC, datetime, timedelta

import pytest

from pixity.domain import (
    Bias,
    RunnerState,
    RunnerStatus,
    Signal,
    SignalState,
    SignalType,
    make_signal_id,
)
from pixity.errors import InvalidValueError
from pixity.markettime import IST, format_ts

KEY = "NSE_EQ|INE155A01022"
T0 = datetime(2025, 6, 2, 9, 15, tzinfo=IST)


def signal(**changes: object) -> Signal:
    s = Signal.create(strategy_id="ref_ema_cross", symbol=KEY, timestamp=T0,
                      signal_type=SignalType.BUY, confidence=0.5)  # fmt: skip
    return dataclasses.replace(s, **changes) if changes else s


@pytest.mark.parametrize("bad", [True, False, 1.5, -0.0001, math.nan, math.inf, "0.5", None])
def test_confidences_that_are_not_plain_floats_in_range_are_refused(bad: object) -> None:
    with pytest.raises(InvalidValueError, match="confidence"):
        signal(confidence=bad)


@pytest.mark.parametrize("good", [0.0, 1.0, 0, 1, 0.25])
def test_confidences_in_range_are_taken(good: float) -> None:
    assert signal(confidence=good).confidence == good


def test_a_known_strategy_id_or_timeframe_does_not_let_a_bad_one_through() -> None:
    state = RunnerState(symbol=KEY, strategy_id="ref_ema_cross", timeframe="15m",
                        current_bias=Bias.NEUTRAL, signal_state=SignalState.IDLE,
                        last_bar_ts=None, status=RunnerStatus.STARTING, last_error=None)  # fmt: skip
    signal()  # the good ones are now known
    for bad in ("ref ema", "", "x" * 81, 7):
        with pytest.raises(InvalidValueError, match="strategy_id"):
            signal(strategy_id=bad)
        with pytest.raises(InvalidValueError, match="strategy_id"):
            dataclasses.replace(state, strategy_id=bad)
    for bad_tf in ("15", "0m", "15min", 15):
        with pytest.raises(InvalidValueError, match="timeframe"):
            dataclasses.replace(state, timeframe=bad_tf)


def test_signal_ids_of_one_instant_agree_and_naive_or_sub_second_times_are_refused() -> None:
    for i in range(3):
        ts = T0 + timedelta(minutes=15 * i)
        key = f"ref_ema_cross|{KEY}|{format_ts(ts)}|BUY"
        expected = "sig-" + hashlib.sha256(key.encode()).hexdigest()[:20]
        assert make_signal_id("ref_ema_cross", KEY, ts, SignalType.BUY) == expected
        assert make_signal_id("ref_ema_cross", KEY, ts.astimezone(UTC), SignalType.BUY) == expected
    with pytest.raises(InvalidValueError, match="naive"):
        make_signal_id("ref_ema_cross", KEY, T0.replace(tzinfo=None), SignalType.BUY)
    with pytest.raises(InvalidValueError, match="sub-second"):
        make_signal_id("ref_ema_cross", KEY, T0 + timedelta(microseconds=5), SignalType.BUY)
