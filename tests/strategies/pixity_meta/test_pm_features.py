"""pixityAI_meta features: batch and incremental agree; defined and finite once warm."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pm_support import KEY, at, bar, frame_of, sample_bars, sample_frame

from pixity.domain import Bar
from pixity.errors import InvalidValueError
from pixity.strategies.pixity_meta.features import (
    FEATURE_NAMES,
    LEVEL_NAMES,
    VOLUME_DAYS,
    WARMUP_BARS,
    FeatureState,
    batch_features,
)
from pixity.strategies.pixity_meta.rule import RuleParams, RuleState, batch_rule

TOLERANCE = 1e-9


@st.composite
def sessions(draw: st.DrawFn) -> list[Bar]:
    """Several days of 15m bars on a tick grid, with missing bars, flat bars, zero volumes."""
    days = draw(st.integers(min_value=1, max_value=9))
    gap_p = draw(st.sampled_from([0.0, 0.05, 0.3]))
    flat_p = draw(st.sampled_from([0.0, 0.2, 1.0]))
    zero_p = draw(st.sampled_from([0.0, 0.1]))
    vol = draw(st.sampled_from([0.0005, 0.003, 0.02]))
    rng = np.random.default_rng(draw(st.integers(min_value=0, max_value=2**32 - 1)))
    price = float(draw(st.sampled_from([1.05, 100.0, 2500.0])))
    out = []
    for d in range(days):
        day = date(2025, 6, 2) + timedelta(days=d)
        for slot in range(25):
            if rng.random() < gap_p:
                continue
            price = max(0.05, round(price * math.exp(rng.normal(0, vol)) * 20) / 20)
            ts = at(day, 9, 15) + timedelta(minutes=15 * slot)
            volume = 0 if rng.random() < zero_p else int(rng.integers(1, 10**6))
            if rng.random() < flat_p:
                out.append(bar(ts, price, volume=volume))
                continue
            up, down = (round(abs(rng.normal(0, vol)) * price * 20) / 20 for _ in range(2))
            opened = max(0.05, round((price + rng.normal(0, vol) * price) * 20) / 20)
            high, low = max(price, opened) + up, max(0.05, min(price, opened) - down)
            out.append(bar(ts, price, high=high, low=low, open_=opened, volume=volume))
    return out


def incremental(bars: list[Bar]) -> tuple[list[dict[str, float] | None], list[tuple[int, int]]]:
    state, rule = FeatureState(), RuleState(RuleParams())
    features, decided = [], []
    for b in bars:
        row = state.update(b)
        assert state.levels is not None
        result = rule.update(b, state.levels, warm=row is not None)
        features.append(row)
        decided.append((result.trend, result.candidate))
    return features, decided


@given(sessions())
def test_batch_features_equal_incremental_features(bars: list[Bar]) -> None:
    batch = batch_features(frame_of(bars))
    rows, decided = incremental(bars)
    assert [r is not None for r in rows] == batch["warm"].tolist()
    for i, row in enumerate(rows):
        if row is None:
            assert batch.loc[i, list(FEATURE_NAMES)].isna().all()
            continue
        assert list(row) == list(FEATURE_NAMES)
        for name in FEATURE_NAMES:
            assert math.isfinite(row[name]), name
            assert row[name] == pytest.approx(batch.loc[i, name], rel=TOLERANCE, abs=TOLERANCE), (
                i, name,
            )  # fmt: skip
    # The rule compares levels with prices: the levels agree to the bit, so its answers do.
    rule = batch_rule(batch, RuleParams())
    assert list(zip(rule["trend"], rule["candidate"], strict=True)) == decided


def test_sample_market_features_are_warm_from_the_sixth_day_and_finite() -> None:
    frame = sample_frame()
    batch = batch_features(frame)
    one = batch[batch["symbol"] == KEY].reset_index(drop=True)
    # Every bar is present in the sample market: 5 days of 25 bars, then warm from 09:15.
    first_warm = int(one["warm"].to_numpy().argmax())
    assert first_warm == VOLUME_DAYS * 25 and first_warm + 1 >= WARMUP_BARS
    assert one["warm"].iloc[first_warm:].all()
    warm = batch[batch["warm"]]
    assert np.isfinite(warm[list(FEATURE_NAMES) + list(LEVEL_NAMES)].to_numpy()).all()
    assert (warm["rsi_14"].between(0, 100)).all() and (warm["atr"] > 0).all()


def test_incremental_features_match_batch_on_the_sample_market() -> None:
    bars = sample_bars(KEY)
    frame = batch_features(frame_of(bars))
    rows, _ = incremental(bars)
    warm = [i for i, r in enumerate(rows) if r is not None]
    assert len(warm) == len(bars) - VOLUME_DAYS * 25
    worst = max(abs(rows[i][n] - frame.loc[i, n]) for i in warm for n in FEATURE_NAMES)  # type: ignore[index]
    assert worst < 1e-12


def test_vwap_resets_each_day_and_minutes_count_from_0915() -> None:
    day1, day2 = date(2025, 6, 2), date(2025, 6, 3)
    bars = [
        bar(at(day1, 9, 15), 100.0, volume=10),
        bar(at(day1, 9, 30), 110.0, volume=30),
        bar(at(day2, 10, 0), 90.0, volume=5),
    ]
    batch = batch_features(frame_of(bars))
    assert batch["vwap"].tolist() == pytest.approx([100.0, 107.5, 90.0])
    state = FeatureState()
    vwaps = []
    for b in bars:
        state.update(b)
        assert state.levels is not None
        vwaps.append(state.levels.vwap)
    assert vwaps == pytest.approx([100.0, 107.5, 90.0])


def test_batch_features_refuse_frames_without_bar_columns() -> None:
    frame = frame_of([bar(at(date(2025, 6, 2), 9, 15), 100.0)]).drop(columns=["volume"])
    with pytest.raises(InvalidValueError, match="volume"):
        batch_features(frame)


PURE = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"sklearn", "joblib", "duckdb", "pyarrow", "sqlite3"} or \\
                name.startswith(("pixity.stores", "pixity.feeds", "pixity.live")):
            raise ImportError("pure module imported " + name)
sys.meta_path.insert(0, Block())
import pixity.strategies.pixity_meta.features, pixity.strategies.pixity_meta.rule
import pixity.strategies.pixity_meta.labels
"""


def test_features_rule_and_labels_are_pure() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PURE], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
