"""Bars: ticks -> 1m (or N-minute) bars, and 1m -> N-minute resampling, anchored at 09:15 IST.

The *builder* (``BarBuilder``) only accumulates; *when* a bar closes is decided by
``ClosePolicy`` from the data and an injected clock: a bar closes when an input at or past
its end arrives, or when the clock passes its end plus a grace, whichever is first.

One rule for disorder, per symbol (``TickOutcome``):
- bars are emitted in time order and a closed bar never changes;
- an input older than the symbol's forming bar (or, with none forming, older than the end of
  its last closed bar) is ``LATE``: counted and not applied;
- a tick equal to one already in the forming bar (same exchange time, price, quantity and
  cumulative volume) is a ``DUPLICATE``: counted and not applied;
- a tick older than the previous one but inside the forming bar is ``OUT_OF_ORDER``: counted
  and applied. Open and close are taken by exchange time (then receive order), so arrival
  order inside a bar does not change the bar;
- a tick outside the 09:15-15:30 session is ``OUTSIDE_SESSION``: counted and not applied.
Nothing is dropped without being counted in ``counts``.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Generic, TypeVar

from pixity.clock import Clock
from pixity.domain import Bar, Tick, TickRow, tick_row
from pixity.errors import DataIntegrityError, InvalidValueError
from pixity.markettime import bar_end, bar_start, from_epoch_ms, in_session, to_epoch_ms, to_ist

DEFAULT_GRACE = timedelta(seconds=2)

BarSink = Callable[[Bar], None]


class TickOutcome(StrEnum):
    """What happened to one input."""

    ACCEPTED = "accepted"
    OUT_OF_ORDER = "out_of_order"  # accepted, applied
    DUPLICATE = "duplicate"  # rejected
    LATE = "late"  # rejected: its bar has closed
    OUTSIDE_SESSION = "outside_session"  # rejected


REJECTED_OUTCOMES = frozenset(
    {TickOutcome.DUPLICATE, TickOutcome.LATE, TickOutcome.OUTSIDE_SESSION}
)


class BarBuilder:
    """Accumulate the inputs of one symbol's bar opening at ``start``; knows nothing of time."""

    __slots__ = (
        "_close",
        "_close_key",
        "_high",
        "_low",
        "_open",
        "_open_key",
        "_ticks",
        "_volume",
        "end",
        "end_ms",
        "minutes",
        "start",
        "start_ms",
        "symbol",
    )

    def __init__(self, symbol: str, start: datetime, minutes: int) -> None:
        self.symbol = symbol
        self.start = start
        self.minutes = minutes
        self.end, self.start_ms, self.end_ms = _span(start, minutes)
        self._open = self._high = self._low = self._close = 0.0
        # (epoch ms, seq) of the inputs that set the open and the close.
        self._open_key: tuple[int, int] | None = None
        self._close_key: tuple[int, int] | None = None
        self._volume = 0
        self._ticks = 0

    @property
    def empty(self) -> bool:
        """Tell whether nothing has been added yet."""
        return self._open_key is None

    def add_tick(self, tick: Tick) -> None:
        """Add a tick that lies inside this bar."""
        self.add_trade(to_epoch_ms(tick.ts), tick.seq, tick.price, tick.volume)

    def add_trade(self, ms: int, seq: int, price: float, volume: int) -> None:
        """Add a trade at epoch ``ms`` (receive order ``seq``) that lies inside this bar."""
        if not self.start_ms <= ms < self.end_ms:
            self._check_inside(from_epoch_ms(ms))
        # ``_apply`` with open = high = low = close = price, spelled out: this runs per tick.
        key = (ms, seq)
        if self._open_key is None:
            self._open = self._high = self._low = self._close = price
            self._open_key = self._close_key = key
        else:
            if price > self._high:
                self._high = price
            if price < self._low:
                self._low = price
            if key < self._open_key:
                self._open, self._open_key = price, key
            assert self._close_key is not None
            if key >= self._close_key:
                self._close, self._close_key = price, key
        self._volume += volume
        self._ticks += 1

    def add_bar(self, bar: Bar) -> None:
        """Add a shorter closed bar that lies inside this bar."""
        self._check_inside(bar.ts)
        # A bar's open is its earliest price and its close its latest: key both by bar time.
        key = (to_epoch_ms(bar.ts), 0)
        self._apply(bar.open, bar.high, bar.low, bar.close, key, key)
        self._volume += bar.volume
        self._ticks += bar.tick_count

    def build(self, *, closed: bool) -> Bar:
        """Return the bar accumulated so far."""
        if self._open_key is None:
            raise InvalidValueError(f"bar {self.symbol} {self.start.isoformat()} has no data")
        return Bar(
            symbol=self.symbol,
            ts=self.start,
            minutes=self.minutes,
            open=self._open,
            high=self._high,
            low=self._low,
            close=self._close,
            volume=self._volume,
            tick_count=self._ticks,
            closed=closed,
        )

    def _check_inside(self, when: datetime) -> None:
        if not self.start <= when < self.end:
            raise InvalidValueError(
                f"{when.isoformat()} is outside bar {self.symbol} "
                f"[{self.start.isoformat()}, {self.end.isoformat()})"
            )

    def _apply(
        self,
        open_: float,
        high: float,
        low: float,
        close: float,
        open_key: tuple[int, int],
        close_key: tuple[int, int],
    ) -> None:
        if self._open_key is None:
            self._open, self._high, self._low, self._close = open_, high, low, close
            self._open_key, self._close_key = open_key, close_key
            return
        self._high = max(self._high, high)
        self._low = min(self._low, low)
        if open_key < self._open_key:
            self._open, self._open_key = open_, open_key
        assert self._close_key is not None
        if close_key >= self._close_key:
            self._close, self._close_key = close, close_key


R = TypeVar("R")


class _ByPlainDatetime(Generic[R]):
    """``compute(when, minutes)``, cached where ``when`` is a plain ``datetime``.

    A subclass (a pandas Timestamp) is computed afresh: it is equal to, and hashes like, the
    plain datetime of the same instant, so a cache would hand its type to every later caller.
    """

    __slots__ = ("_cached", "_compute")

    def __init__(self, compute: Callable[[datetime, int], R]) -> None:
        self._compute = compute
        self._cached = functools.lru_cache(maxsize=4096)(compute)

    def __call__(self, when: datetime, minutes: int) -> R:
        if when.__class__ is datetime:
            return self._cached(when, minutes)
        return self._compute(when, minutes)

    def cache_clear(self) -> None:
        """Empty the cache."""
        self._cached.cache_clear()


def _compute_span(start: datetime, minutes: int) -> tuple[datetime, int, int]:
    end = bar_end(start, minutes)
    return end, to_epoch_ms(start), to_epoch_ms(end)


# The open of the bar holding an IST minute, and the end of the bar opening at ``start`` with
# both as epoch ms: every symbol opens the same bars, the ingest hundreds a minute.
_minute_bar_start = _ByPlainDatetime(bar_start)
_span = _ByPlainDatetime(_compute_span)


@dataclass(frozen=True, slots=True)
class ClosePolicy:
    """Decide when a bar closes: an input at or past its end, or the clock past end + grace."""

    minutes: int
    grace: timedelta = DEFAULT_GRACE

    def start_of(self, when: datetime) -> datetime:
        """Return the open time of the bar holding ``when``."""
        # The bar depends only on the minute of IST (cached: every symbol opens the same bars).
        return _minute_bar_start(to_ist(when).replace(second=0, microsecond=0), self.minutes)

    def closed_by_input(self, builder: BarBuilder, when: datetime) -> bool:
        """Tell whether an input at ``when`` closes ``builder``'s bar."""
        return when >= builder.end

    def closed_by_clock(self, builder: BarBuilder, now: datetime) -> bool:
        """Tell whether the clock reading ``now`` closes ``builder``'s bar."""
        return now >= builder.end + self.grace


@dataclass(slots=True)
class _SymbolState:
    builder: BarBuilder | None = None
    watermark: datetime | None = None  # end of the last closed bar
    last_ts: datetime | None = None  # the newest input's time (resampler)
    last_ms: int | None = None  # the newest tick's time, epoch ms (tick aggregator)
    # The forming bar's ticks (exchange ms, price, last qty, cumulative volume): duplicates.
    seen: set[tuple[int, float, int, int | None]] = field(default_factory=set)


class _Aggregator:
    """Per-symbol windows driven by a ``ClosePolicy``; subclasses say how inputs are added."""

    def __init__(self, *, minutes: int, on_bar: BarSink, clock: Clock, grace: timedelta) -> None:
        self.policy = ClosePolicy(minutes, grace)
        self.minutes = minutes
        self._on_bar = on_bar
        self._clock = clock
        self._symbols: dict[str, _SymbolState] = {}
        self.counts: Counter[TickOutcome] = Counter()

    def on_time(self) -> int:
        """Close every bar the clock has passed; return how many closed."""
        now = self._clock.now()
        closed = 0
        for state in self._symbols.values():
            if state.builder is not None and self.policy.closed_by_clock(state.builder, now):
                self._close(state)
                closed += 1
        return closed

    def close_all(self) -> int:
        """Close every forming bar now (end of session or of a replay); return how many."""
        closed = 0
        for state in self._symbols.values():
            if state.builder is not None:
                self._close(state)
                closed += 1
        return closed

    def forming(self, only: Iterable[str] | None = None) -> list[Bar]:
        """Return snapshots (``closed=False``) of the bars still forming (of ``only``'s symbols)."""
        states = self._symbols
        picked: Iterable[_SymbolState] = (
            states.values() if only is None else [states[s] for s in only if s in states]
        )
        return [
            s.builder.build(closed=False)
            for s in picked
            if s.builder is not None and not s.builder.empty
        ]

    @property
    def rejected(self) -> int:
        """Return how many inputs were counted and not applied."""
        return sum(n for outcome, n in self.counts.items() if outcome in REJECTED_OUTCOMES)

    def _route(self, symbol: str, when: datetime) -> tuple[_SymbolState, TickOutcome]:
        """Find the state for an input at ``when``, closing bars it ends; say if it is late.

        Otherwise it is ``ACCEPTED`` here: whether it goes back in time is the caller's to say.
        """
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = _SymbolState()
        builder = state.builder
        if builder is not None and self.policy.closed_by_input(builder, when):
            self._close(state)
            builder = None
        floor = builder.start if builder is not None else state.watermark
        if floor is not None and when < floor:
            return state, TickOutcome.LATE
        if state.builder is None:
            state.builder = BarBuilder(symbol, self.policy.start_of(when), self.minutes)
        return state, TickOutcome.ACCEPTED

    def _close(self, state: _SymbolState) -> None:
        builder = state.builder
        assert builder is not None
        state.builder = None
        state.watermark = builder.end
        state.seen.clear()
        if not builder.empty:
            self._on_bar(builder.build(closed=True))


class TickAggregator(_Aggregator):
    """Build ``minutes``-long bars from ticks of any number of symbols.

    ``out = []; agg = TickAggregator(minutes=1, on_bar=out.append, clock=clock)``.
    """

    def __init__(
        self,
        *,
        minutes: int = 1,
        on_bar: BarSink,
        clock: Clock,
        grace: timedelta = DEFAULT_GRACE,
    ) -> None:
        super().__init__(minutes=minutes, on_bar=on_bar, clock=clock, grace=grace)

    def symbol_states(self) -> dict[str, _SymbolState]:
        """Return the live per-symbol states, for a caller that applies the common tick itself.

        The common tick lies inside its symbol's forming bar (``builder.start_ms <= ms <
        builder.end_ms``): it closes nothing and is not late, so ``_classify`` only checks
        ``seen``, adds it to the builder and moves ``last_ms``. A caller doing that must count
        its outcomes in ``counts`` as ``on_trade`` does (the ingest's ``Pipeline._quotes`` does).
        """
        return self._symbols

    def on_tick(self, tick: Tick) -> TickOutcome:
        """Apply one tick, closing the bars it ends; return (and count) what happened."""
        return self.on_trade(tick_row(tick))

    def on_trade(self, row: TickRow) -> TickOutcome:
        """Apply one tick given as its ``TickRow``; return (and count) what happened.

        The row's values must be what a ``Tick`` accepts (the ingest's validator checks them).
        """
        outcome = self._classify(row)
        self.counts[outcome] += 1
        return outcome

    def _classify(self, row: TickRow) -> TickOutcome:
        symbol, ms, price, last_qty, cum_volume, seq, volume = row
        state = self._symbols.get(symbol)
        builder = None if state is None else state.builder
        if state is None or builder is None or not builder.start_ms <= ms < builder.end_ms:
            # Not inside the forming bar's span, so route it. (The common case, per tick, is
            # inside it: that span lies in the session, and such a tick neither closes the bar
            # nor is late, which is what ``_route`` would find.)
            when = from_epoch_ms(ms)
            if not in_session(when):
                return TickOutcome.OUTSIDE_SESSION
            state, outcome = self._route(symbol, when)
            if outcome is TickOutcome.LATE:
                return outcome
            builder = state.builder
            assert builder is not None
        last = state.last_ms
        # Compared in epoch ms: the same instants, in the same order, as the ticks' datetimes.
        late = last is not None and ms < last
        outcome = TickOutcome.OUT_OF_ORDER if late else TickOutcome.ACCEPTED
        key = (ms, price, last_qty, cum_volume)
        seen = state.seen
        if key in seen:
            return TickOutcome.DUPLICATE
        seen.add(key)
        builder.add_trade(ms, seq, price, volume)
        if not late:
            state.last_ms = ms
        return outcome


class BarResampler(_Aggregator):
    """Resample closed shorter bars (1m) into ``minutes``-long bars as they arrive.

    A window closes when its last minute's bar arrives, when a bar of a later window
    arrives, or when the clock passes its end plus the grace.
    """

    def __init__(
        self,
        *,
        minutes: int = 15,
        on_bar: BarSink,
        clock: Clock,
        grace: timedelta = DEFAULT_GRACE,
    ) -> None:
        super().__init__(minutes=minutes, on_bar=on_bar, clock=clock, grace=grace)

    def on_bar(self, bar: Bar) -> TickOutcome:
        """Add one closed bar; return (and count) what happened."""
        outcome = self._classify(bar)
        self.counts[outcome] += 1
        return outcome

    def _classify(self, bar: Bar) -> TickOutcome:
        _check_input_bar(bar, self.minutes)
        when = to_ist(bar.ts)
        state, outcome = self._route(bar.symbol, when)
        if outcome is TickOutcome.LATE:
            return outcome
        last = state.last_ts
        if last is not None and when <= last:
            # Two bars for one minute, or one going back in time, contradict the source.
            return TickOutcome.DUPLICATE if when == last else TickOutcome.LATE
        builder = state.builder
        assert builder is not None
        builder.add_bar(bar)
        state.last_ts = when
        if bar_end(when, bar.minutes) >= builder.end:
            self._close(state)
        return outcome


def _check_input_bar(bar: Bar, minutes: int) -> None:
    if not bar.closed:
        raise InvalidValueError(f"cannot resample forming bar {bar.symbol} {bar.ts.isoformat()}")
    if minutes % bar.minutes:
        raise InvalidValueError(f"cannot resample {bar.timeframe} bars into {minutes}m bars")


class _FrozenClock:
    """A clock stuck at one instant, for batch helpers that never close by time."""

    def __init__(self, when: datetime) -> None:
        self._when = when

    def now(self) -> datetime:
        return self._when


def bars_from_ticks(ticks: Iterable[Tick], minutes: int = 1) -> list[Bar]:
    """Build closed bars from ticks in one go; return them sorted by (symbol, time).

    Ticks are sorted by (exchange time, seq) first, so none is late; duplicates and ticks
    outside the session are left out (use ``TickAggregator`` to see the counts).
    """
    out: list[Bar] = []
    ordered = sorted(ticks, key=lambda t: (t.ts, t.seq))
    if not ordered:
        return out
    agg = TickAggregator(minutes=minutes, on_bar=out.append, clock=_FrozenClock(ordered[0].ts))
    for tick in ordered:
        agg.on_tick(tick)
    agg.close_all()
    out.sort(key=lambda b: (b.symbol, b.ts))
    return out


def resample(bars: Iterable[Bar], minutes: int) -> list[Bar]:
    """Resample closed bars into ``minutes``-long bars anchored at 09:15; sorted by (symbol, time).

    Two input bars for the same symbol and time are a ``DataIntegrityError``.
    """
    ordered = sorted(bars, key=lambda b: (b.symbol, b.ts))
    out: list[Bar] = []
    if not ordered:
        return out
    agg = BarResampler(minutes=minutes, on_bar=out.append, clock=_FrozenClock(ordered[0].ts))
    for bar in ordered:
        if agg.on_bar(bar) is not TickOutcome.ACCEPTED:
            raise DataIntegrityError(
                f"two {bar.timeframe} bars for {bar.symbol} at {bar.ts.isoformat()}"
            )
    agg.close_all()
    out.sort(key=lambda b: (b.symbol, b.ts))
    return out
