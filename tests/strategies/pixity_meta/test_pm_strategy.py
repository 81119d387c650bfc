"""The pixityAI_meta strategy: registry, signals on a sample day, SETUP, and barrier exits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from pm_support import KEY, OTHER, TEST_DAY, at, bar, frame_of, sample_bars

from pixity.domain import Bar, Bias, SignalState, SignalType
from pixity.errors import ConfigError
from pixity.live.config import SessionConfig
from pixity.live.core import make_runners
from pixity.strategies import ClosedBarGate, Decision, available, get_strategy
from pixity.strategies.pixity_meta.artifact import (
    DEFAULT_DIR,
    artifact_dir,
    load_artifact,
    save_artifact,
)
from pixity.strategies.pixity_meta.features import WARMUP_DAYS, batch_features
from pixity.strategies.pixity_meta.labels import ExitReason, triple_barrier_labels
from pixity.strategies.pixity_meta.rule import batch_rule
from pixity.strategies.pixity_meta.strategy import MetaSpec, MetaStrategy

ID = "pixityAI_meta"


def spec(**params: object) -> MetaSpec:
    built = get_strategy(ID, params)
    assert isinstance(built, MetaSpec)
    return built


def run(strategy_spec: MetaSpec, bars: list[Bar], symbol: str = KEY) -> list[Decision]:
    gate = ClosedBarGate(strategy_spec.create(symbol), symbol=symbol, minutes=15)
    return [gate.on_bar(b) for b in bars]


# ---------------------------------------------------------------- registry and parameters


def test_registry_gives_the_strategy_with_the_shipped_artifact() -> None:
    assert ID in available()
    built = spec()
    assert (built.strategy_id, built.timeframe_minutes) == (ID, 15)
    assert built.warmup_bars == (WARMUP_DAYS + 1) * 25 == 150
    assert built.artifact.path == DEFAULT_DIR
    assert built.threshold == built.artifact.threshold == load_artifact(DEFAULT_DIR).threshold
    assert spec(threshold=0.4).threshold == 0.4


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"treshold": 0.5}, "no parameter.*treshold.*threshold"),
        ({"threshold": 1.5}, r"must be in \[0, 1\]"),
        ({"threshold": "high"}, "must be a number"),
        ({"model_version": "v1", "model_path": "/x"}, "not both"),
        ({"model_version": "nope"}, r"no pixityAI_meta model artifact at .*nope.*make model"),
    ],
)
def test_bad_parameters_are_a_config_error(
    params: dict[str, object], match: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=match):
        get_strategy(
            ID, params | ({"data_dir": str(tmp_path)} if "model_version" in params else {})
        )


def test_a_model_version_is_found_under_the_data_dir(tmp_path: Path) -> None:
    shipped = load_artifact(DEFAULT_DIR)
    folder = artifact_dir(tmp_path, "v-test")
    meta = {k: v for k, v in shipped.metadata.items() if not k.startswith("model_")}
    save_artifact(folder, shipped.model, meta | {"version": "v-test"})
    built = spec(model_version="v-test", data_dir=str(tmp_path))
    assert built.artifact.path == folder and built.artifact.version == "v-test"
    assert spec(model_path=str(folder)).artifact.version == "v-test"


def test_a_session_finds_a_model_version_under_its_own_data_dir(tmp_path: Path) -> None:
    shipped = load_artifact(DEFAULT_DIR)
    meta = {k: v for k, v in shipped.metadata.items() if not k.startswith("model_")}
    save_artifact(artifact_dir(tmp_path, "v-mine"), shipped.model, meta | {"version": "v-mine"})
    params = {"symbols": [KEY], "strategies": [ID], "max_capital": 1e5, "max_daily_loss": 1e4,
              "run_id": "t", "data_dir": str(tmp_path),
              "strategy_params": {ID: {"model_version": "v-mine"}}}  # fmt: skip
    (runner,) = make_runners(SessionConfig.from_params(params))
    assert runner.spec.artifact.version == "v-mine"  # type: ignore[attr-defined]
    # Named explicitly, another data dir wins; it has no such model.
    params["strategy_params"] = {ID: {"model_version": "v-mine", "data_dir": str(tmp_path / "x")}}
    with pytest.raises(ConfigError, match="no pixityAI_meta model artifact"):
        make_runners(SessionConfig.from_params(params))


# ---------------------------------------------------------------- on the sample market


@pytest.mark.parametrize("symbol", [KEY, OTHER])
def test_signals_on_a_sample_day(symbol: str) -> None:
    built = spec()
    bars = sample_bars(symbol)
    decisions = run(built, bars, symbol)
    entries = 0
    for b, decision in zip(bars, decisions, strict=True):
        assert (decision.state is SignalState.TRIGGERED) == bool(decision.signals)
        for signal in decision.signals:
            assert signal.timestamp == b.ts and signal.symbol == symbol  # bar_ts = its bar's open
            assert signal.strategy_id == ID and 0.0 <= signal.confidence <= 1.0
            if signal.signal_type is not SignalType.EXIT:
                entries += b.ts.date() == TEST_DAY
                assert signal.confidence >= built.threshold
    assert entries >= 1  # the default artifact trades on the test day, so the demo does


def test_bias_is_neutral_while_warming_up_then_the_side_of_ema50() -> None:
    bars = sample_bars(KEY)
    decisions = run(spec(), bars)
    frame = batch_features(frame_of(bars))
    warm = frame["warm"].to_numpy()
    for i, decision in enumerate(decisions):
        if not warm[i]:
            assert decision.bias is Bias.NEUTRAL and decision.state is SignalState.IDLE
        else:
            above = frame["close"].iloc[i] > frame["ema_slow"].iloc[i]
            assert decision.bias is (Bias.BUY if above else Bias.SELL)


def test_below_the_threshold_every_candidate_is_a_setup_and_nothing_is_emitted() -> None:
    bars = sample_bars(KEY)
    decisions = run(spec(threshold=1.0), bars)
    candidates = batch_rule(batch_features(frame_of(bars)), spec().artifact.rule)["candidate"]
    assert all(not d.signals for d in decisions)
    setups = [d.state is SignalState.SETUP for d in decisions]
    assert setups == (candidates != 0).tolist() and any(setups)


def test_every_trade_exits_where_its_label_ends() -> None:
    bars = sample_bars(KEY)
    built = spec(threshold=0.0)  # take every candidate while flat
    strategy = built.create(KEY)
    frame = batch_features(frame_of(bars))
    candidates = batch_rule(frame, built.artifact.rule)["candidate"]
    labels = triple_barrier_labels(frame, candidates, built.artifact.barrier).set_index("bar_ts")
    open_at, reasons = None, []
    for b in bars:
        for signal in strategy.on_bar(b).signals:
            ts = pd.Timestamp(b.ts)
            if signal.signal_type is SignalType.EXIT:
                assert open_at is not None and labels.loc[open_at, "exit_ts"] == ts
                assert strategy.last_exit == labels.loc[open_at, "reason"]
                reasons.append(strategy.last_exit)
                open_at = None
            else:
                assert open_at is None and candidates[frame["bar_ts"] == ts].item() != 0
                open_at = ts
    assert {ExitReason.TARGET, ExitReason.STOP} <= set(reasons) and len(reasons) >= 5


# ---------------------------------------------------------------- exits on hand-made paths


def first_entry(accept: Callable[[Bar], bool]) -> tuple[MetaSpec, MetaStrategy, Bar, int, float]:
    """Feed the sample bars (every candidate taken) up to the first entry on a bar ``accept``
    likes; return the strategy, just entered, with the entry bar, side and ATR."""
    built = spec(threshold=0.0)
    strategy = built.create(KEY)
    bars = sample_bars(KEY)
    atr = batch_features(frame_of(bars))["atr"]
    for i, b in enumerate(bars):
        entries = [s for s in strategy.on_bar(b).signals if s.signal_type is not SignalType.EXIT]
        if entries and accept(b):
            side = 1 if entries[0].signal_type is SignalType.BUY else -1
            return built, strategy, b, side, float(atr.iloc[i])
    raise AssertionError("no entry found")


def early(b: Bar) -> bool:
    return b.ts.hour < 12


def continue_with(strategy: MetaStrategy, entry: Bar, closes: list[float]) -> list[Decision]:
    """Feed flat bars closing at ``closes`` in the slots after ``entry``."""
    return [
        strategy.on_bar(bar(entry.ts + timedelta(minutes=15 * (k + 1)), c))
        for k, c in enumerate(closes)
    ]


def exits(decisions: list[Decision]) -> list[int]:
    return [
        i
        for i, d in enumerate(decisions)
        if any(s.signal_type is SignalType.EXIT for s in d.signals)
    ]


@pytest.mark.parametrize(
    ("moves", "reason", "at_bar"),
    [
        ([0.2, 1.6], ExitReason.TARGET, 1),  # closes beyond entry + 1.5 ATR
        ([-0.3, -1.1], ExitReason.STOP, 1),  # closes beyond entry - 1.0 ATR
        ([0.1, -0.1, 0.2, 0.0, 0.1, -0.2, 0.3], ExitReason.TIME, 5),  # the 6th bar after entry
    ],
    ids=["target", "stop", "time"],
)
def test_exit_by_the_barrier_on_a_hand_made_path(
    moves: list[float], reason: ExitReason, at_bar: int
) -> None:
    built, strategy, entry, side, atr = first_entry(early)
    barrier = built.artifact.barrier
    assert (barrier.profit_atr, barrier.stop_atr, barrier.horizon) == (1.5, 1.0, 6)
    closes = [round(entry.close + side * m * atr, 2) for m in moves]
    decisions = continue_with(strategy, entry, closes)
    assert exits(decisions)[0] == at_bar
    assert all(not d.signals for d in decisions[:at_bar])
    assert strategy.last_exit is reason


def test_exit_on_the_days_last_bar_and_after_a_missing_one() -> None:
    _, strategy, entry, _, _ = first_entry(lambda b: b.ts.hour >= 14)
    slots = int((at(entry.ts.date(), 15, 15) - entry.ts) / timedelta(minutes=15))
    assert 1 <= slots < 6  # the day ends before the time limit
    decisions = continue_with(strategy, entry, [entry.close] * slots)
    assert exits(decisions) == [slots - 1]  # the 15:15 bar
    assert strategy.last_exit is ExitReason.END_OF_DAY
    # Without the 15:15 bar, the next bar seen (the next day's) closes the trade.
    _, strategy, entry, _, _ = first_entry(lambda b: b.ts.hour >= 14)
    continue_with(strategy, entry, [entry.close] * (slots - 1))
    next_day = bar(at(entry.ts.date() + timedelta(days=1), 9, 15), entry.close)
    decision = strategy.on_bar(next_day)
    assert [s.signal_type for s in decision.signals][:1] == [SignalType.EXIT]
    assert decision.signals[0].timestamp == next_day.ts
