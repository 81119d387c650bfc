"""pixityAI_meta's ``warm`` leaves it as ``on_bar`` does: the model is asked during the warm-up
too, since whether a candidate opened a trade decides what comes after it."""

from __future__ import annotations

import pytest
from pm_support import KEY, OTHER, sample_bars

from pixity.domain import Bar, SignalType
from pixity.strategies import Decision, get_strategy
from pixity.strategies.pixity_meta.strategy import MetaStrategy

ID = "pixityAI_meta"


def entries(decisions: list[Decision]) -> list[int]:
    return [i for i, d in enumerate(decisions) if any(s.signal_type is not SignalType.EXIT for s in d.signals)]  # fmt: skip


def make(symbol: str) -> MetaStrategy:
    strategy = get_strategy(ID).create(symbol)
    assert isinstance(strategy, MetaStrategy)
    return strategy


def after_warm(symbol: str, bars: list[Bar], k: int) -> tuple[list[Decision], list[Decision]]:
    decided, warmed = make(symbol), make(symbol)
    for b in bars[:k]:
        decided.on_bar(b)
        assert warmed.warm(b) is None
    assert warmed._trade == decided._trade and warmed.last_exit == decided.last_exit
    return [decided.on_bar(b) for b in bars[k:]], [warmed.on_bar(b) for b in bars[k:]]


def test_the_sample_days_give_entries_and_exits_to_warm_through() -> None:
    one = make(KEY)
    decisions = [one.on_bar(b) for b in sample_bars(KEY)]
    found = entries(decisions)
    assert found and any(d.signals and d.signals[-1].signal_type is SignalType.EXIT for d in decisions[found[0]:])  # fmt: skip


@pytest.mark.parametrize("symbol", [KEY, OTHER])
@pytest.mark.parametrize("at", ["start", "warm", "entry", "in_trade", "end"])
def test_warm_then_on_bar_decides_as_on_bar_all_along(symbol: str, at: str) -> None:
    bars = sample_bars(symbol)
    one = make(symbol)
    decisions = [one.on_bar(b) for b in bars]
    found = entries(decisions) or [len(bars) - 2]
    k = {
        "start": 0,
        "warm": 150,
        "entry": found[0],
        "in_trade": found[0] + 1,
        "end": len(bars) - 1,
    }[at]
    a, b = after_warm(symbol, bars, k)
    assert a == b == decisions[k:]
