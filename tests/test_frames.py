"""Frames of bars and ticks: one set of columns and dtypes, lossless both ways."""

from __future__ import annotations

from datetime import UTC

import pandas as pd
import pytest

from pixity.domain import Bar, Tick
from pixity.errors import InvalidValueError
from pixity.frames import (
    BAR_DTYPES,
    TICK_DTYPES,
    bars_from_frame,
    check_bars_frame,
    check_ticks_frame,
    conform_bars_frame,
    empty_bars_frame,
    empty_ticks_frame,
    frame_from_bars,
    frame_from_ticks,
    ticks_from_frame,
)
from pixity.markettime import IST, ist

A = "NSE_EQ|INE155A01022"


def one_bar(minute: int = 0) -> Bar:
    return Bar(
        symbol=A,
        ts=ist(2024, 1, 2, 9, 15 + minute),
        minutes=1,
        open=10.05,
        high=10.5,
        low=10.0,
        close=10.45,
        volume=300,
        tick_count=4,
        closed=True,
    )


def test_empty_frames_have_the_columns_and_dtypes() -> None:
    assert dict(empty_bars_frame().dtypes) == BAR_DTYPES
    assert dict(empty_ticks_frame().dtypes) == TICK_DTYPES
    assert dict(frame_from_bars([]).dtypes) == BAR_DTYPES
    assert dict(frame_from_ticks([]).dtypes) == TICK_DTYPES


def test_bars_round_trip() -> None:
    bars = [one_bar(0), one_bar(1)]
    frame = frame_from_bars(bars)
    assert dict(frame.dtypes) == BAR_DTYPES
    assert bars_from_frame(frame) == bars
    assert frame["bar_ts"].iloc[0].to_pydatetime().tzinfo == IST


def test_ticks_round_trip_with_and_without_vtt() -> None:
    ticks = [
        Tick(
            symbol=A,
            ts=ist(2024, 1, 2, 9, 15),
            price=10.05,
            last_qty=3,
            cum_volume=3,
            volume=3,
            seq=1,
        ),
        Tick(
            symbol=A,
            ts=ist(2024, 1, 2, 9, 16),
            price=10.1,
            last_qty=2,
            cum_volume=None,
            volume=2,
            seq=2,
        ),
    ]
    frame = frame_from_ticks(ticks)
    assert frame["ltt"].iloc[0] == 1704167100000
    assert ticks_from_frame(frame) == ticks


def test_utc_bar_times_are_converted_to_ist() -> None:
    frame = frame_from_bars([one_bar()])
    frame["bar_ts"] = frame["bar_ts"].dt.tz_convert(UTC)
    assert str(conform_bars_frame(frame)["bar_ts"].dt.tz) == "Asia/Kolkata"
    assert bars_from_frame(frame) == [one_bar()]


def test_checks_return_the_conformed_frame() -> None:
    bars = frame_from_bars([one_bar()])
    assert check_bars_frame(bars.assign(closed=True, minutes=1)).equals(bars)
    ticks = frame_from_ticks(
        [
            Tick(
                symbol=A,
                ts=ist(2024, 1, 2, 9, 15),
                price=1.0,
                last_qty=1,
                cum_volume=1,
                volume=1,
                seq=1,
            )
        ]
    )
    assert check_ticks_frame(ticks).equals(ticks)


def test_a_naive_bar_time_is_refused() -> None:
    frame = frame_from_bars([one_bar()]).assign(bar_ts=pd.Timestamp("2024-01-02 09:15"))
    with pytest.raises(InvalidValueError, match="tz-aware"):
        conform_bars_frame(frame)
