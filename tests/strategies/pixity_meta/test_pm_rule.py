"""The primary rule on hand-made bar tables, bar by bar and over a frame."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
import pytest
from pm_support import KEY, at, bar

from pixity.errors import ConfigError
from pixity.strategies.pixity_meta.features import Levels
from pixity.strategies.pixity_meta.rule import RuleParams, RuleState, batch_rule

D1, D2 = date(2025, 6, 2), date(2025, 6, 3)


@dataclass(frozen=True)
class Row:
    """One bar with its levels: time, high, low, close, EMA(20), EMA(50), VWAP, ATR."""

    hhmm: tuple[int, int]
    high: float
    low: float
    close: float
    ema20: float = 100.0
    ema50: float = 99.0
    vwap: float = 100.0
    atr: float = 1.0
    warm: bool = True
    day: date = D1


# An up-trend (close > EMA(50) = 99) with a bar that dips to EMA(20) = 100, then one closing
# above the dip bar's high: the textbook BUY. SELL cases mirror it around EMA(50) = 101.
DIP = Row((10, 0), high=101.0, low=100.1, close=100.8)
GO = Row((10, 15), high=101.6, low=100.7, close=101.5)
UP = Row((10, 15), high=102.0, low=101.5, close=101.9)  # no dip: low far above the levels
SELL_RALLY = Row((10, 0), high=99.9, low=99.0, close=99.2, ema50=101.0)
SELL_GO = Row((10, 15), high=99.3, low=98.4, close=98.5, ema50=101.0)

CASES = {
    "buy: dip to EMA(20), close above the previous high": ([DIP, GO], [0, 1]),
    "buy: dip within k ATR above the VWAP only": (
        [Row((10, 0), 102.0, 101.2, 101.5, ema20=99.5, vwap=101.0), Row((10, 15), 102.5, 101.6, 102.1, ema20=99.6, vwap=101.1)],
        [0, 1],
    ),
    "no pullback: lows stay more than k ATR above EMA(20) and VWAP": (
        [Row((10, 0), 102.0, 101.3, 101.8), Row((10, 15), 102.6, 101.9, 102.5)],
        [0, 0],
    ),
    "pullback older than the lookback (3 bars) does not count": (
        [DIP, Row((10, 15), 100.95, 100.5, 100.9), Row((10, 30), 100.95, 100.5, 100.9),
         Row((10, 45), 100.95, 100.5, 100.9), Row((11, 0), 101.8, 100.9, 101.7)],
        [0, 0, 0, 0, 0],
    ),
    "pullback two bars back, inside the lookback": (
        [DIP, Row((10, 15), 101.0, 100.6, 100.9), Row((10, 30), 101.6, 101.3, 101.5)],
        [0, 0, 1],
    ),
    "close equal to the previous high is no break": ([DIP, Row((10, 15), 101.2, 100.7, 101.0)], [0, 0]),
    "up-trend, close below the previous low: no SELL against the trend": (
        [DIP, Row((10, 15), 100.9, 99.5, 99.6)],
        [0, 0],
    ),
    "sell: rally to EMA(20) in a down-trend, close below the previous low": ([SELL_RALLY, SELL_GO], [0, -1]),
    "close on EMA(50) has no trend: no candidate": (
        [DIP, Row((10, 15), 101.6, 100.7, 101.5, ema50=101.5)],
        [0, 0],
    ),
    "not warm: no candidate": ([DIP, Row((10, 15), 101.6, 100.7, 101.5, warm=False)], [0, 0]),
    "the day's first bar has no previous bar; yesterday's dip does not count": (
        [Row((15, 0), 101.0, 100.1, 100.8), Row((15, 15), 101.0, 100.1, 100.8),
         Row((9, 15), 102.0, 101.5, 101.9, day=D2), Row((9, 30), 102.6, 101.9, 102.5, day=D2)],
        [0, 0, 0, 0],
    ),
    "no candidate on the day's last bar (15:15)": (
        [Row((15, 0), 101.0, 100.1, 100.8), Row((15, 15), 101.6, 100.7, 101.5)],
        [0, 0],
    ),
    "a break on 15:00 still counts": (
        [Row((14, 45), 101.0, 100.1, 100.8), Row((15, 0), 101.6, 100.7, 101.5)],
        [0, 1],
    ),
}  # fmt: skip


def frame_of_rows(rows: list[Row]) -> pd.DataFrame:
    ts = [at(r.day, *r.hhmm) for r in rows]
    return pd.DataFrame(
        {
            "symbol": KEY,
            "bar_ts": pd.to_datetime(ts).tz_convert("Asia/Kolkata"),
            "high": [r.high for r in rows],
            "low": [r.low for r in rows],
            "close": [r.close for r in rows],
            "minutes": [(t.hour * 60 + t.minute) - 555 for t in ts],
            "warm": [r.warm for r in rows],
            "ema_fast": [r.ema20 for r in rows],
            "ema_slow": [r.ema50 for r in rows],
            "vwap": [r.vwap for r in rows],
            "atr": [r.atr for r in rows],
        }
    )


def incremental(rows: list[Row], params: RuleParams) -> list[int]:
    state = RuleState(params)
    out = []
    for r in rows:
        b = bar(at(r.day, *r.hhmm), r.close, high=r.high, low=r.low)
        levels = Levels(ema_fast=r.ema20, ema_slow=r.ema50, vwap=r.vwap, atr=r.atr)
        out.append(state.update(b, levels, warm=r.warm).candidate)
    return out


@pytest.mark.parametrize(("rows", "expected"), list(CASES.values()), ids=list(CASES))
def test_rule_table(rows: list[Row], expected: list[int]) -> None:
    params = RuleParams(pullback_atr=0.25, lookback=3)
    assert incremental(rows, params) == expected
    assert batch_rule(frame_of_rows(rows), params)["candidate"].tolist() == expected


def test_trend_is_the_side_of_ema50() -> None:
    rows = [
        Row((10, 0), 101.0, 100.0, 100.5, ema50=99.0),
        Row((10, 15), 101.0, 100.0, 100.5, ema50=101.0),
        Row((10, 30), 101.0, 100.0, 100.5, ema50=100.5),
    ]
    assert batch_rule(frame_of_rows(rows), RuleParams())["trend"].tolist() == [1, -1, 0]
    state = RuleState(RuleParams())
    trends = [
        state.update(
            bar(at(r.day, *r.hhmm), r.close, high=r.high, low=r.low),
            Levels(r.ema20, r.ema50, r.vwap, r.atr), warm=True,
        ).trend
        for r in rows
    ]  # fmt: skip
    assert trends == [1, -1, 0]


def test_a_wider_pullback_band_admits_more() -> None:
    rows = [Row((10, 0), 102.0, 101.3, 101.8), Row((10, 15), 102.6, 101.9, 102.5)]
    assert incremental(rows, RuleParams(pullback_atr=0.25)) == [0, 0]
    assert incremental(rows, RuleParams(pullback_atr=1.5)) == [0, 1]


@pytest.mark.parametrize("bad", [{"pullback_atr": -0.1}, {"lookback": 0}, {"lookback": 26}])
def test_rule_parameters_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        RuleParams(**bad)  # type: ignore[arg-type]
