"""The strategy interface: a registry by id, one instance per symbol, closed bars only.

A strategy is described by a ``StrategySpec`` (its id, bar length, warm-up length and
parameters) and makes one ``SymbolStrategy`` per symbol. The engine hands each instance closed
bars of the spec's timeframe, oldest first, through a ``ClosedBarGate`` that refuses anything
else: a strategy cannot see a forming bar, a bar of another length or a bar out of order.
Each bar gives a ``Decision``: the bias, the signal state and the signals (possibly none).

Before a session's first live bar, each instance is warmed on history bars whose decisions are
never acted on. A strategy may define ``warm(bar) -> None`` for that: it must leave the
instance exactly as ``on_bar(bar)`` would, only without making the decision (no ``Signal`` is
built: a backtest warms on five days for each day it runs, so most of its strategy calls are
warm-ups). Without it, warm-up goes through ``on_bar`` and the decision is dropped. A test
checks each built-in strategy's ``warm`` against its ``on_bar``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn, Protocol

from pixity.domain import Bar, Bias, Signal, SignalState
from pixity.errors import ConfigError, InvalidValueError


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What a strategy concluded on one closed bar."""

    bias: Bias
    state: SignalState
    signals: tuple[Signal, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.bias, Bias) or not isinstance(self.state, SignalState):
            raise InvalidValueError(f"decision needs a Bias and a SignalState, got {self!r}")
        if (self.state is SignalState.TRIGGERED) != bool(self.signals):
            raise InvalidValueError(
                f"decision state {self.state} does not match {len(self.signals)} signal(s)"
            )


# A decision without signals is the same value every time it is made: one per (bias, state).
_QUIET = {
    (bias, state): Decision(bias=bias, state=state)
    for bias in Bias
    for state in (SignalState.IDLE, SignalState.SETUP)
}


def quiet(bias: Bias, state: SignalState) -> Decision:
    """Return ``Decision(bias=bias, state=state)`` (no signals), shared: strategies make one
    on most bars."""
    if bias.__class__ is Bias and state.__class__ is SignalState:
        found = _QUIET.get((bias, state))
        if found is not None:
            return found
    return Decision(bias=bias, state=state)  # TRIGGERED, or not a Bias: refused as ever


class SymbolStrategy(Protocol):
    """One strategy's view of one symbol; keeps whatever rolling state it needs."""

    def on_bar(self, bar: Bar) -> Decision:
        """Take the next closed bar and decide."""
        ...


class StrategySpec(Protocol):
    """What the engine needs to know of a strategy."""

    @property
    def strategy_id(self) -> str: ...

    @property
    def timeframe_minutes(self) -> int: ...

    @property
    def warmup_bars(self) -> int:
        """Return how many closed bars an instance needs before its decisions mean anything."""
        ...

    def create(self, symbol: str) -> SymbolStrategy:
        """Return a fresh instance for ``symbol``."""
        ...


SpecFactory = Callable[[Mapping[str, object]], StrategySpec]
_REGISTRY: dict[str, SpecFactory] = {}
_TAKES_DATA_DIR: set[str] = set()


def register(strategy_id: str, factory: SpecFactory, *, takes_data_dir: bool = False) -> None:
    """Register ``factory`` (parameters -> spec) under ``strategy_id``.

    ``takes_data_dir``: the strategy has a ``data_dir`` parameter (where it finds its model
    artifacts); a session passes its own ``--data-dir`` unless the parameters name another.
    """
    if strategy_id in _REGISTRY and _REGISTRY[strategy_id] is not factory:
        raise ConfigError(f"strategy {strategy_id!r} is already registered")
    _REGISTRY[strategy_id] = factory
    if takes_data_dir:
        _TAKES_DATA_DIR.add(strategy_id)


def takes_data_dir(strategy_id: str) -> bool:
    """Return whether ``strategy_id`` has a ``data_dir`` parameter."""
    _load_builtin()
    return strategy_id in _TAKES_DATA_DIR


def available() -> list[str]:
    """Return the registered strategy ids, sorted."""
    _load_builtin()
    return sorted(_REGISTRY)


def get_strategy(strategy_id: str, params: Mapping[str, object] | None = None) -> StrategySpec:
    """Return the spec of ``strategy_id`` built with ``params``; unknown ids are a ConfigError."""
    _load_builtin()
    factory = _REGISTRY.get(strategy_id)
    if factory is None:
        raise ConfigError(
            f"unknown strategy {strategy_id!r}; available: {', '.join(sorted(_REGISTRY))}"
        )
    spec = factory(dict(params or {}))
    if spec.strategy_id != strategy_id:
        raise ConfigError(f"strategy {strategy_id!r} built a spec named {spec.strategy_id!r}")
    return spec


def _load_builtin() -> None:
    # The built-in strategies register themselves on import; imported lazily so that this
    # module stays importable on its own.
    from pixity.strategies import reference  # noqa: F401
    from pixity.strategies.pixity_meta import strategy  # noqa: F401


class ClosedBarGate:
    """Wrap a ``SymbolStrategy`` so that it only ever receives closed bars, in order."""

    __slots__ = ("_inner", "_last", "_learn", "minutes", "symbol")

    def __init__(self, inner: SymbolStrategy, *, symbol: str, minutes: int) -> None:
        self._inner = inner
        self.symbol = symbol
        self.minutes = minutes
        self._last: datetime | None = None
        learn = inner.warm if hasattr(inner, "warm") else None  # optional (see the module)
        self._learn: Callable[[Bar], None] | None = learn if callable(learn) else None

    @property
    def learns(self) -> bool:
        """Tell whether the strategy has its own ``warm`` (see the module)."""
        return self._learn is not None

    @property
    def last_bar_ts(self) -> datetime | None:
        """Return the open time of the last bar passed through."""
        return self._last

    def on_bar(self, bar: Bar) -> Decision:
        """Check ``bar`` and hand it to the strategy."""
        self._admit(bar)
        decision = self._inner.on_bar(bar)
        self._last = bar.ts
        return decision

    def warm(self, bar: Bar) -> None:
        """Check ``bar`` as ``on_bar`` does and hand it to the strategy's ``warm``.

        Only for a strategy that has one (``learns``).
        """
        self._admit(bar)
        assert self._learn is not None, "warm() of a strategy without one"
        self._learn(bar)
        self._last = bar.ts

    def _admit(self, bar: Bar) -> None:
        """Raise unless ``bar`` is closed, of this symbol and length, and after the last one."""
        last = self._last
        if (
            not bar.closed
            or bar.symbol != self.symbol
            or bar.minutes != self.minutes
            or (last is not None and bar.ts <= last)
        ):
            self._refuse(bar)  # the message is only made for a bar that is refused

    def _refuse(self, bar: Bar) -> NoReturn:
        """Raise what is wrong with ``bar`` (the first check it fails, as before)."""
        where = f"{bar.symbol} {bar.ts.isoformat()}"
        if not bar.closed:
            raise InvalidValueError(f"strategy offered the forming bar {where}")
        if bar.symbol != self.symbol:
            raise InvalidValueError(f"bar {where} offered to the strategy of {self.symbol}")
        if bar.minutes != self.minutes:
            raise InvalidValueError(f"{bar.timeframe} bar {where} offered to a {self.minutes}m one")
        last = "" if self._last is None else self._last.isoformat()
        raise InvalidValueError(f"bar {where} is not after {last}")
