"""``ref_ema_cross``: a small, documented reference strategy for tests and the demo.

Rule, on closed bars of ``timeframe_minutes`` (15 by default):
- a fast and a slow exponential moving average of the close (``fast``, ``slow`` bars; each
  seeded with the first close it sees);
- bias is BUY while fast > slow, SELL while fast < slow, NEUTRAL until ``slow`` bars were seen;
- when the sign of fast - slow changes (a cross), the candidate is BUY (up) or SELL (down)
  with confidence ``s / (s + scale_bps)``, where ``s`` is the gap between the averages in
  basis points of the slow one; it is emitted when the confidence reaches ``min_confidence``
  (state TRIGGERED), otherwise the state is SETUP and nothing is emitted;
- ``exit_after`` bars after an emitted signal, with no cross in between, an EXIT is emitted
  (0 turns exits off); the count starts again each session day.

It is not meant to make money; it is meant to fire often enough, deterministically, to
exercise every path of the live session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date

from pixity.domain import Bar, Bias, Signal, SignalState, SignalType
from pixity.errors import ConfigError
from pixity.strategies.base import Decision, quiet, register

STRATEGY_ID = "ref_ema_cross"


@dataclass(frozen=True, slots=True, kw_only=True)
class EmaCrossSpec:
    """Parameters of ``ref_ema_cross``; unknown keys are refused by ``from_params``."""

    fast: int = 3
    slow: int = 8
    scale_bps: float = 10.0
    min_confidence: float = 0.05
    exit_after: int = 4
    timeframe_minutes: int = 15
    strategy_id: str = STRATEGY_ID

    def __post_init__(self) -> None:
        if not 1 <= self.fast < self.slow <= 500:
            raise ConfigError(
                f"ref_ema_cross needs 1 <= fast < slow <= 500, got {self.fast}, {self.slow}"
            )
        if not self.scale_bps > 0:
            raise ConfigError(f"scale_bps {self.scale_bps} must be > 0")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"min_confidence {self.min_confidence} must be in [0, 1]")
        if self.exit_after < 0:
            raise ConfigError(f"exit_after {self.exit_after} must be >= 0")

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> EmaCrossSpec:
        """Build the spec from ``params``, refusing keys it does not have."""
        known = {f.name for f in fields(cls)} - {"strategy_id"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(
                f"ref_ema_cross has no parameter(s) {', '.join(unknown)}; it has {', '.join(sorted(known))}"
            )
        try:
            return cls(**params)  # type: ignore[arg-type]
        except TypeError as exc:
            raise ConfigError(f"ref_ema_cross parameters: {exc}") from None

    @property
    def warmup_bars(self) -> int:
        """Return the bars needed before the slow average means anything."""
        return self.slow

    def create(self, symbol: str) -> EmaCross:
        """Return an instance for ``symbol``."""
        return EmaCross(self, symbol)


class EmaCross:
    """One symbol's ``ref_ema_cross``."""

    def __init__(self, spec: EmaCrossSpec, symbol: str) -> None:
        self.spec = spec
        self.symbol = symbol
        self._fast: float | None = None
        self._slow: float | None = None
        self._seen = 0
        self._sign = 0
        self._since_signal: int | None = None
        self._day: date | None = None
        # Fixed by the spec (frozen), looked up once: on_bar runs on every bar of the warm-up.
        self._fast_alpha = _alpha(spec.fast)
        self._slow_alpha = _alpha(spec.slow)
        self._warmup = spec.warmup_bars

    def on_bar(self, bar: Bar) -> Decision:
        """Update the averages with ``bar`` and decide."""
        decision = self._step(bar, True)
        assert decision is not None  # made whenever asked for
        return decision

    def warm(self, bar: Bar) -> None:
        """Update the averages with ``bar`` as ``on_bar`` does, without deciding."""
        self._step(bar, False)

    def _step(self, bar: Bar, decide: bool) -> Decision | None:
        """Take ``bar``; return the decision if ``decide`` (without it, no signal is built and
        the state moves all the same)."""
        close = bar.close
        fast, slow = self._fast, self._slow  # each average starts at the first close
        self._fast = fast = close if fast is None else fast + self._fast_alpha * (close - fast)
        self._slow = slow = close if slow is None else slow + self._slow_alpha * (close - slow)
        self._seen += 1
        day = bar.ts.date()
        if day != self._day:
            self._day, self._since_signal = day, None
        gap = fast - slow
        sign = (gap > 0) - (gap < 0)
        crossed = self._sign != 0 and sign != 0 and sign != self._sign
        if sign != 0:
            self._sign = sign
        if self._seen < self._warmup:
            return _IDLE[Bias.NEUTRAL]
        bias = Bias.BUY if sign > 0 else Bias.SELL if sign < 0 else Bias.NEUTRAL
        if crossed:
            return self._cross(bar, bias, abs(gap) / slow * 1e4, decide)
        if self._since_signal is None:  # nothing to exit (most bars)
            return _IDLE[bias]
        return self._hold(bar, bias, decide)

    def _cross(self, bar: Bar, bias: Bias, gap_bps: float, decide: bool) -> Decision | None:
        confidence = gap_bps / (gap_bps + self.spec.scale_bps)
        if confidence < self.spec.min_confidence:
            return quiet(bias, SignalState.SETUP)
        self._since_signal = 0
        if not decide:
            return None
        kind = SignalType.BUY if bias is Bias.BUY else SignalType.SELL
        return self._emit(bar, bias, kind, confidence)

    def _hold(self, bar: Bar, bias: Bias, decide: bool) -> Decision | None:
        if self._since_signal is None:
            return _IDLE[bias]
        self._since_signal += 1
        if self.spec.exit_after and self._since_signal >= self.spec.exit_after:
            self._since_signal = None
            return self._emit(bar, bias, SignalType.EXIT, 1.0) if decide else None
        return _IDLE[bias]

    def _emit(self, bar: Bar, bias: Bias, kind: SignalType, confidence: float) -> Decision:
        signal = Signal.create(
            strategy_id=self.spec.strategy_id,
            symbol=self.symbol,
            timestamp=bar.ts,
            signal_type=kind,
            confidence=round(min(1.0, max(0.0, confidence)), 6),
        )
        return Decision(bias=bias, state=SignalState.TRIGGERED, signals=(signal,))


_IDLE = {bias: quiet(bias, SignalState.IDLE) for bias in Bias}


def _alpha(span: int) -> float:
    """Return the smoothing factor of an exponential average over ``span`` bars."""
    return 2.0 / (span + 1)


register(STRATEGY_ID, EmaCrossSpec.from_params)
