"""``pixityAI_meta`` as the live session and the backtest run it, one instance per symbol.

On each closed 15m bar:

1. the incremental features (``features.FeatureState``) and the primary rule
   (``rule.RuleState``) take the bar; the bias is the rule's trend (NEUTRAL until warm);
2. an open trade is checked against its triple barrier (``labels.Barrier``, the one the labels
   use) on the bar's **close**: target or stop in ATR multiples of the entry bar's ATR, the
   time limit of ``horizon`` bars, and the day's last bar (15:15). A hit emits ``EXIT``
   (confidence 1). When the day's 15:15 bar never comes (no trade in it), the next bar seen,
   the next day's, emits the EXIT; the broker's 15:15 square-off has closed the position by
   then, and the label (0: the target was not reached that day) is the same;
3. a candidate while flat gets the model's probability as its confidence: at or above
   ``threshold`` a ``BUY``/``SELL`` is emitted (state TRIGGERED) and a trade opens at the bar's
   close; below it the state is SETUP and nothing is emitted. A candidate while a trade is
   open is not taken (one trade at a time per symbol), so every entry exits exactly where
   its label's path ends.

Every signal's ``timestamp`` (stored as ``bar_ts``) is the open time of the bar whose close
produced it. The barriers and the rule's parameters come from the artifact's metadata, so the
strategy trades the labels its model was trained on.

Parameters (``from_params``; unknown keys are refused): ``threshold`` (default: the
artifact's), ``model_version`` (an artifact under ``<data_dir>/models/pixityAI_meta/``) or
``model_path`` (an artifact folder); with neither, the artifact shipped in the package.
``data_dir`` defaults to the session's ``--data-dir`` (``SessionConfig`` passes it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path

from pixity.domain import Bar, Bias, Signal, SignalState, SignalType
from pixity.errors import ConfigError
from pixity.markettime import to_ist
from pixity.strategies.base import Decision, quiet, register
from pixity.strategies.pixity_meta import STRATEGY_ID
from pixity.strategies.pixity_meta.artifact import (
    DEFAULT_DIR,
    Artifact,
    artifact_dir,
    load_artifact,
)
from pixity.strategies.pixity_meta.features import WARMUP_DAYS, FeatureState, minutes_since_open
from pixity.strategies.pixity_meta.labels import Barrier, ExitReason
from pixity.strategies.pixity_meta.rule import BAR_MINUTES, BUY, LAST_BAR_MINUTES, RuleState

log = logging.getLogger(__name__)

BARS_PER_DAY = 25


@dataclass(frozen=True, slots=True, kw_only=True)
class MetaParams:
    """The strategy's parameters."""

    threshold: float | None = None
    model_version: str | None = None
    model_path: str | None = None
    data_dir: str = "data"

    def __post_init__(self) -> None:
        if self.threshold is not None:
            if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float):
                raise ConfigError(
                    f"{STRATEGY_ID} threshold must be a number, got {self.threshold!r}"
                )
            if not 0.0 <= self.threshold <= 1.0:
                raise ConfigError(f"{STRATEGY_ID} threshold {self.threshold} must be in [0, 1]")
        for name in ("model_version", "model_path", "data_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | Path):
                raise ConfigError(f"{STRATEGY_ID} {name} must be text, got {value!r}")
        if self.model_version is not None and self.model_path is not None:
            raise ConfigError(f"{STRATEGY_ID} takes model_version or model_path, not both")

    @classmethod
    def from_mapping(cls, params: Mapping[str, object]) -> MetaParams:
        """Build the parameters from ``params``, refusing keys they do not have."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(
                f"{STRATEGY_ID} has no parameter(s) {', '.join(unknown)}; it has {', '.join(sorted(known))}"
            )
        return cls(**params)  # type: ignore[arg-type]

    def model_dir(self) -> Path:
        """Return the artifact folder these parameters name."""
        if self.model_path is not None:
            return Path(self.model_path)
        if self.model_version is not None:
            return artifact_dir(self.data_dir, self.model_version)
        return DEFAULT_DIR


class MetaSpec:
    """The spec of ``pixityAI_meta``: parameters and the loaded artifact."""

    strategy_id = STRATEGY_ID
    timeframe_minutes = BAR_MINUTES

    def __init__(self, params: MetaParams, artifact: Artifact) -> None:
        self.params = params
        self.artifact = artifact
        self.threshold = artifact.threshold if params.threshold is None else float(params.threshold)

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> MetaSpec:
        """Build the spec from ``params``, loading its artifact (a ConfigError if unusable)."""
        parsed = MetaParams.from_mapping(params)
        return cls(parsed, load_artifact(parsed.model_dir()))

    @property
    def warmup_bars(self) -> int:
        """Return the bars needed: five full days warm every time of day, one more for gaps."""
        return (WARMUP_DAYS + 1) * BARS_PER_DAY

    def create(self, symbol: str) -> MetaStrategy:
        """Return an instance for ``symbol``."""
        return MetaStrategy(self, symbol)


@dataclass(slots=True)
class _Trade:
    barrier: Barrier
    day: date
    held: int = 0


class MetaStrategy:
    """One symbol's ``pixityAI_meta``."""

    def __init__(self, spec: MetaSpec, symbol: str) -> None:
        self.spec = spec
        self.symbol = symbol
        self._features = FeatureState()
        self._rule = RuleState(spec.artifact.rule)
        self._barrier = spec.artifact.barrier
        self._trade: _Trade | None = None
        self.last_exit: ExitReason | None = None  # why the last trade ended, for inspection

    def on_bar(self, bar: Bar) -> Decision:
        """Take the next closed 15m bar and decide."""
        decision = self._step(bar, True)
        assert decision is not None  # made whenever asked for
        return decision

    def warm(self, bar: Bar) -> None:
        """Take a history bar as ``on_bar`` does (the model is asked all the same: whether a
        trade opened decides what comes next), without building its signals."""
        self._step(bar, False)

    def _step(self, bar: Bar, decide: bool) -> Decision | None:
        features = self._features.update(bar)
        levels = self._features.levels
        assert levels is not None  # set by every update
        result = self._rule.update(bar, levels, warm=features is not None)
        exited = self._exit(bar)  # before the candidate: the exit bar may open the next
        signals = [self._signal(bar, SignalType.EXIT, 1.0)] if exited and decide else []
        if features is None:
            return _decision(Bias.NEUTRAL, SignalState.IDLE, signals) if decide else None
        bias = Bias.BUY if result.trend > 0 else Bias.SELL if result.trend < 0 else Bias.NEUTRAL
        if result.candidate == 0 or self._trade is not None:
            return _decision(bias, SignalState.IDLE, signals) if decide else None
        confidence = self.spec.artifact.probability(features, result.candidate)
        if confidence < self.spec.threshold:
            return _decision(bias, SignalState.SETUP, signals) if decide else None
        kind = self._enter(bar, result.candidate, levels.atr, confidence)
        if not decide:
            return None
        signals.append(self._signal(bar, kind, confidence))
        return _decision(bias, SignalState.TRIGGERED, signals)

    def _enter(self, bar: Bar, side: int, atr: float, confidence: float) -> SignalType:
        """Open the trade; return the signal's type."""
        barrier = Barrier.open(side, bar.close, atr, self._barrier)
        self._trade = _Trade(barrier=barrier, day=to_ist(bar.ts).date())
        kind = SignalType.BUY if side == BUY else SignalType.SELL
        if log.isEnabledFor(logging.DEBUG):  # formatting the time costs, on every warm-up too
            log.debug("%s %s %s %s p=%.4f", STRATEGY_ID, self.symbol, bar.ts.isoformat(), kind, confidence)  # fmt: skip
        return kind

    def _exit(self, bar: Bar) -> bool:
        """Close the trade if a barrier (or the day's end) is reached; return whether it did."""
        trade = self._trade
        if trade is None:
            return False
        ts = to_ist(bar.ts)
        if ts.date() != trade.day:
            reason: ExitReason | None = ExitReason.END_OF_DAY  # the day's last bar was missing
        else:
            trade.held += 1
            last = minutes_since_open(ts) >= LAST_BAR_MINUTES
            reason = trade.barrier.check(bar.close, trade.held, last_of_day=last)
        if reason is None:
            return False
        self._trade, self.last_exit = None, reason
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s EXIT (%s)", STRATEGY_ID, self.symbol, bar.ts.isoformat(), reason)
        return True

    def _signal(self, bar: Bar, kind: SignalType, confidence: float) -> Signal:
        return Signal.create(
            strategy_id=STRATEGY_ID,
            symbol=self.symbol,
            timestamp=bar.ts,
            signal_type=kind,
            confidence=confidence,
        )


def _decision(bias: Bias, state: SignalState, signals: list[Signal]) -> Decision:
    if signals:
        return Decision(bias=bias, state=SignalState.TRIGGERED, signals=tuple(signals))
    return quiet(bias, state)


register(STRATEGY_ID, MetaSpec.from_params, takes_data_dir=True)
