"""Triple-barrier labels on hand-made paths, and the barrier the strategy shares."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pandas as pd
import pytest
from pm_support import KEY, at

from pixity.errors import ConfigError
from pixity.strategies.pixity_meta.labels import (
    LABEL_COLUMNS,
    Barrier,
    BarrierParams,
    ExitReason,
    triple_barrier_labels,
)

DAY = date(2025, 6, 2)
PARAMS = BarrierParams(profit_atr=1.5, stop_atr=1.0, horizon=4)


def path(closes: list[float], *, start: tuple[int, int] = (10, 0), day: date = DAY) -> pd.DataFrame:
    first = at(day, *start)
    ts = [first + timedelta(minutes=15 * i) for i in range(len(closes))]
    return pd.DataFrame(
        {
            "symbol": KEY,
            "bar_ts": pd.to_datetime(ts).tz_convert("Asia/Kolkata"),
            "close": closes,
            "atr": 1.0,
        }
    )


def label_first(frame: pd.DataFrame, side: int = 1, params: BarrierParams = PARAMS) -> pd.Series:
    candidates = pd.Series([side] + [0] * (len(frame) - 1), index=frame.index)
    labels = triple_barrier_labels(frame, candidates, params)
    assert list(labels.columns) == list(LABEL_COLUMNS) and len(labels) == 1
    return labels.iloc[0]


# Entry at 100 with ATR 1: the BUY target is 101.5, the stop 99.0; 4 bars at most.
CASES = {
    "target first": ([100.0, 100.5, 101.6, 98.0], 1, ExitReason.TARGET, 2, 1),
    "target touched exactly": ([100.0, 101.5], 1, ExitReason.TARGET, 1, 1),
    "stop first, target later": ([100.0, 99.5, 98.9, 103.0], 1, ExitReason.STOP, 2, 0),
    "time limit after 4 bars": ([100.0, 100.2, 99.8, 100.4, 100.1, 105.0], 1, ExitReason.TIME, 4, 0),
    "sell: target below": ([100.0, 99.2, 98.4], -1, ExitReason.TARGET, 2, 1),
    "sell: stop above": ([100.0, 100.4, 101.0], -1, ExitReason.STOP, 2, 0),
}  # fmt: skip


@pytest.mark.parametrize(
    ("closes", "side", "reason", "held", "label"), list(CASES.values()), ids=list(CASES)
)
def test_labels_on_hand_made_paths(
    closes: list[float], side: int, reason: ExitReason, held: int, label: int
) -> None:
    frame = path(closes)
    row = label_first(frame, side)
    assert (row["reason"], row["held"], row["label"]) == (reason, held, label)
    assert row["exit_ts"] == frame["bar_ts"].iloc[held]
    assert row["exit_close"] == closes[held]
    assert row["entry"] == 100.0 and row["side"] == side


def test_end_of_day_ends_the_path_before_the_time_limit() -> None:
    # Entry at 14:45: 15:00 and 15:15 are left; the next day's bars never count.
    today = path([100.0, 100.3, 100.2], start=(14, 45))
    tomorrow = path([104.0, 104.0], start=(9, 15), day=DAY + timedelta(days=1))
    frame = pd.concat([today, tomorrow], ignore_index=True)
    row = label_first(frame)
    assert (row["reason"], row["held"], row["label"]) == (ExitReason.END_OF_DAY, 2, 0)
    assert row["exit_ts"] == today["bar_ts"].iloc[2]


def test_target_on_the_days_last_bar_is_still_a_target() -> None:
    row = label_first(path([100.0, 100.3, 101.7], start=(14, 45)))
    assert (row["reason"], row["label"]) == (ExitReason.TARGET, 1)


def test_candidate_on_the_days_last_bar_has_nothing_to_walk() -> None:
    row = label_first(path([100.0], start=(15, 15)))
    assert (row["reason"], row["held"], row["label"], row["ret"]) == (
        ExitReason.END_OF_DAY,
        0,
        0,
        0.0,
    )


def test_labels_of_several_candidates_and_symbols() -> None:
    other = "NSE_EQ|INE090A01021"  # sorts before KEY
    b = path([50.0, 49.0, 48.0, 47.0]).assign(symbol=other)
    a = path([100.0, 101.6, 100.0, 98.9])
    frame = pd.concat([b, a], ignore_index=True)
    # Sell the other at 50 (target 48.5, reached at 48.0); buy KEY at 100 twice: at its first
    # bar (target at 101.6) and at its third (stopped at 98.9).
    candidates = pd.Series([-1, 0, 0, 0, 1, 0, 1, 0], index=frame.index)
    labels = triple_barrier_labels(frame, candidates, PARAMS)
    assert labels["symbol"].tolist() == [other, KEY, KEY]
    assert labels["reason"].tolist() == [ExitReason.TARGET, ExitReason.TARGET, ExitReason.STOP]
    assert labels["label"].tolist() == [1, 1, 0]
    assert labels["held"].tolist() == [2, 1, 1]
    assert labels["ret"].tolist() == pytest.approx(
        [-math.log(48.0 / 50.0), math.log(1.016), math.log(0.989)]
    )


def test_barrier_checks_target_then_stop_then_time_then_end_of_day() -> None:
    barrier = Barrier.open(1, 100.0, 2.0, BarrierParams(profit_atr=1.0, stop_atr=0.5, horizon=3))
    assert (barrier.target, barrier.stop) == (102.0, 99.0)
    assert barrier.check(102.0, 3, last_of_day=True) is ExitReason.TARGET
    assert barrier.check(99.0, 3, last_of_day=True) is ExitReason.STOP
    assert barrier.check(100.0, 3, last_of_day=True) is ExitReason.TIME
    assert barrier.check(100.0, 2, last_of_day=True) is ExitReason.END_OF_DAY
    assert barrier.check(100.0, 2, last_of_day=False) is None


@pytest.mark.parametrize(
    "bad", [{"profit_atr": 0.0}, {"stop_atr": -1.0}, {"horizon": 0}, {"horizon": 1.5}]
)
def test_barrier_parameters_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        BarrierParams(**bad)  # type: ignore[arg-type]
