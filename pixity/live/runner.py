"""One (symbol, strategy) runner: the strategy behind its closed-bar gate, and its state."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from pixity.domain import WARMING_UP, Bar, Bias, RunnerState, RunnerStatus, Signal, SignalState
from pixity.strategies.base import ClosedBarGate, Decision, StrategySpec

log = logging.getLogger(__name__)

_MAX_ERROR = 500  # characters of an error message kept in runner_state.last_error


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What one bar did to a runner: its new state, the signals, and whether it failed."""

    state: RunnerState
    signals: tuple[Signal, ...]
    failed: bool


class Runner:
    """Feed one symbol's closed bars to one strategy; a strategy that raises is marked ERROR."""

    def __init__(self, spec: StrategySpec, symbol: str, timeframe: str) -> None:
        self.spec = spec
        self.symbol = symbol
        self.gate = ClosedBarGate(
            spec.create(symbol), symbol=symbol, minutes=spec.timeframe_minutes
        )
        self.state = RunnerState(
            symbol=symbol,
            strategy_id=spec.strategy_id,
            timeframe=timeframe,
            current_bias=Bias.NEUTRAL,
            signal_state=SignalState.IDLE,
            last_bar_ts=None,
            status=RunnerStatus.STARTING,
            last_error=None,
        )
        self.warmed = 0  # history bars taken before the first live bar
        self._seen = 0  # bars the strategy has decided on, history and live

    @property
    def failed(self) -> bool:
        """Tell whether the strategy raised; a failed runner takes no more bars."""
        return self.state.status is RunnerStatus.ERROR

    def warm(self, bar: Bar) -> None:
        """Feed a history bar: the strategy learns from it, its decision is not acted on."""
        if not self.failed and self._decide(bar) is not None:
            self.warmed += 1

    def on_bar(self, bar: Bar) -> Outcome:
        """Feed a live bar; return the new state and the signals to act on."""
        if self.failed:
            return Outcome(state=self.state, signals=(), failed=True)
        decision = self._decide(bar)
        if decision is None:
            return Outcome(state=self.state, signals=(), failed=True)
        status = self.state.status
        if status in (RunnerStatus.STARTING, RunnerStatus.STALE):
            status = RunnerStatus.RUNNING
        self.state = replace(
            self.state,
            current_bias=decision.bias,
            signal_state=decision.state,
            last_bar_ts=bar.ts,
            status=status,
            last_error=self._cold_note()
            if status is RunnerStatus.RUNNING
            else self.state.last_error,
        )
        return Outcome(state=self.state, signals=decision.signals, failed=False)

    def _cold_note(self) -> str | None:
        """Say so while the strategy has seen fewer bars than its warm-up needs."""
        need = self.spec.warmup_bars
        if self._seen >= need:
            return None
        return (
            f"{WARMING_UP}: started with {self.warmed} of the {need} history bars "
            f"{self.spec.strategy_id} needs (the history lake is short before this day); "
            f"its decisions use short history until it has seen {need} bars ({self._seen} so far)"
        )

    def set_status(self, status: RunnerStatus, error: str | None = None) -> bool:
        """Move to ``status`` (with ``error`` as last_error); return whether anything changed.

        RUNNING without an error keeps the warm-up note while the strategy is short of bars.
        """
        if self.failed:
            return False
        if status is RunnerStatus.RUNNING and error is None:
            error = self._cold_note()
        new = replace(self.state, status=status, last_error=error)
        if new == self.state:
            return False
        self.state = new
        return True

    def _decide(self, bar: Bar) -> Decision | None:
        # The one boundary around strategy code: whatever it raises marks this runner only.
        try:
            decision = self.gate.on_bar(bar)
            self._seen += 1
            _check_signals(decision, self.spec.strategy_id, bar)
        except Exception as exc:  # a strategy failure is its own (Policy.MARK): mark, go on
            message = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]
            log.error(
                "strategy %s failed on %s %s: %s",
                self.spec.strategy_id,
                self.symbol,
                bar.ts.isoformat(),
                message,
                exc_info=True,
            )
            self.state = replace(self.state, status=RunnerStatus.ERROR, last_error=message)
            return None
        return decision


def _check_signals(decision: Decision, strategy_id: str, bar: Bar) -> None:
    """Refuse signals that are not about this bar: the stored bar_ts must be the bar's."""
    for signal in decision.signals:
        if signal.timestamp != bar.ts or signal.symbol != bar.symbol:
            raise ValueError(
                f"signal {signal.signal_id} is for {signal.symbol} {signal.timestamp.isoformat()}, "
                f"computed on {bar.symbol} {bar.ts.isoformat()}"
            )
        if signal.strategy_id != strategy_id:
            raise ValueError(f"signal {signal.signal_id} claims strategy {signal.strategy_id}")
