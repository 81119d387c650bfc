"""One (symbol, strategy) runner: the strategy behind its closed-bar gate, and its state."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from pixity.domain import WARMING_UP, Bar, Bias, RunnerState, RunnerStatus, Signal, SignalState
from pixity.markettime import IST
from pixity.strategies.base import ClosedBarGate, Decision, StrategySpec

log = logging.getLogger(__name__)

_MAX_ERROR = 500  # characters of an error message kept in runner_state.last_error


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What one bar did to a runner: the signals, and whether it failed (the runner's state
    after it is ``Runner.state``)."""

    signals: tuple[Signal, ...]
    failed: bool


_NOTHING = Outcome(signals=(), failed=False)
_FAILED = Outcome(signals=(), failed=True)

# What a live bar changes in a runner's state: bias, signal state, last bar, status, error.
_Change = tuple[Bias, SignalState, datetime, RunnerStatus, str | None]


class Runner:
    """Feed one symbol's closed bars to one strategy; a strategy that raises is marked ERROR."""

    def __init__(self, spec: StrategySpec, symbol: str, timeframe: str) -> None:
        self.spec = spec
        self.symbol = symbol
        self.gate = ClosedBarGate(
            spec.create(symbol), symbol=symbol, minutes=spec.timeframe_minutes
        )
        self._state = RunnerState(
            symbol=symbol,
            strategy_id=spec.strategy_id,
            timeframe=timeframe,
            current_bias=Bias.NEUTRAL,
            signal_state=SignalState.IDLE,
            last_bar_ts=None,
            status=RunnerStatus.STARTING,
            last_error=None,
        )
        # The state after the last live bar, built when someone asks for ``state``: a backtest
        # never does, a live session does on every bar. Only changes the constructor is known
        # to accept wait here (see on_bar); any other is built at once, and refused there.
        self._change: _Change | None = None
        self._need = spec.warmup_bars  # fixed by the spec
        self.warmed = 0  # history bars taken before the first live bar
        self._seen = 0  # bars the strategy has decided on, history and live

    @property
    def state(self) -> RunnerState:
        """Return the runner's state as of its last bar."""
        change = self._change
        if change is not None:
            self._change = None
            self._state = self._changed(*change)
        return self._state

    @property
    def failed(self) -> bool:
        """Tell whether the strategy raised; a failed runner takes no more bars."""
        # A waiting change is never ERROR: only _decide and set_status make that.
        return self._change is None and self._state.status is RunnerStatus.ERROR

    def warm(self, bar: Bar) -> None:
        """Feed a history bar: the strategy learns from it, its decision is not acted on."""
        self.warm_bars((bar,))

    def warm_bars(self, bars: Iterable[Bar]) -> None:
        """Feed history bars in order, as ``warm`` of each would (one call: the backtest warms
        every runner on five days for each day it runs).

        A strategy with its own ``warm`` makes no decision; one without decides through
        ``on_bar`` and the decision is checked, then dropped. A strategy that raises marks the
        runner ERROR on that bar, and the rest are not fed.
        """
        if self.failed:
            return
        gate = self.gate
        if not gate.learns:
            for bar in bars:
                if self._decide(bar) is None:
                    return
                self.warmed += 1
            return
        learn = gate.warm
        fed = 0
        for bar in bars:
            try:
                learn(bar)
            except Exception as exc:  # noqa: BLE001 - a strategy failure is its own (Policy.MARK)
                self._fail(bar, exc)
                break
            fed += 1
        self._seen += fed
        self.warmed += fed

    def on_bar(self, bar: Bar) -> Outcome:
        """Feed a live bar; return the signals to act on (``state`` is the new state)."""
        # Every 15m bar of every runner comes here: ``failed`` and ``_cold_note``'s common case
        # are spelled out inline (the same checks, in the same order).
        waiting = self._change
        if waiting is None and self._state.status is RunnerStatus.ERROR:
            return _FAILED
        decision = self._decide(bar)
        if decision is None:
            return _FAILED
        status = waiting[3] if waiting is not None else self._state.status
        if status is RunnerStatus.STARTING or status is RunnerStatus.STALE:
            status = RunnerStatus.RUNNING
        if status is RunnerStatus.RUNNING:
            error = None if self._seen >= self._need else self._cold_note()
        else:
            error = waiting[4] if waiting is not None else self._state.last_error
        ts = bar.ts
        change = (decision.bias, decision.state, ts, status, error)
        if decision.__class__ is Decision and ts.__class__ is datetime and ts.tzinfo is IST:
            # A Decision has checked its bias and state; the bar's time is aware; the status
            # is not ERROR: RunnerState accepts these, so building it can wait.
            self._change = change
        else:
            self._state, self._change = self._changed(*change), None
        return _NOTHING if not decision.signals else Outcome(signals=decision.signals, failed=False)

    def _changed(
        self,
        bias: Bias,
        signal_state: SignalState,
        ts: datetime,
        status: RunnerStatus,
        error: str | None,
    ) -> RunnerState:
        state = self._state
        return RunnerState(
            symbol=state.symbol,
            strategy_id=state.strategy_id,
            timeframe=state.timeframe,
            current_bias=bias,
            signal_state=signal_state,
            last_bar_ts=ts,
            status=status,
            last_error=error,
        )

    def _cold_note(self) -> str | None:
        """Say so while the strategy has seen fewer bars than its warm-up needs."""
        need = self._need
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
        state = self.state
        new = replace(state, status=status, last_error=error)
        if new == state:
            return False
        self._state = new
        return True

    def _decide(self, bar: Bar) -> Decision | None:
        # The one boundary around strategy code: whatever it raises marks this runner only.
        try:
            decision = self.gate.on_bar(bar)
            self._seen += 1
            if decision.signals:
                _check_signals(decision, self.spec.strategy_id, bar)
        except Exception as exc:  # noqa: BLE001 - a strategy failure is its own (Policy.MARK)
            self._fail(bar, exc)
            return None
        return decision

    def _fail(self, bar: Bar, exc: Exception) -> None:
        """Mark the runner ERROR for what its strategy raised on ``bar``; log it, traceback and all."""
        message = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]
        log.error(
            "strategy %s failed on %s %s: %s",
            self.spec.strategy_id,
            self.symbol,
            bar.ts.isoformat(),
            message,
            exc_info=exc,
        )
        self._state = replace(self.state, status=RunnerStatus.ERROR, last_error=message)


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
