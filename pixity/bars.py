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

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum

from pixity.clock import Clock
from pixity.domain import Bar, Tick
from pixity.errors import DataIntegrityError, InvalidValueError
from pixity.markettime import bar_end, bar_start, in_session, to_ist

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
        "minutes",
        "start",
        "symbol",
    )

    def __init__(self, symbol: str, start: datetime, minutes: int) -> None:
        self.symbol = symbol
        self.start = start
        self.minutes = minutes
        self.end = bar_end(start, minutes)
        self._open = self._high = self._low = self._close = 0.0
        self._open_key: tuple[datetime, int] | None = None
        self._close_key: tuple[datetime, int] | None = None
        self._volume = 0
        self._ticks = 0

    @property
    def empty(self) -> bool:
        """Tell whether nothing has been added yet."""
        return self._open_key is None

    def add_tick(self, tick: Tick) -> None:
        """Add a tick that lies inside this bar."""
        ts = tick.ts
        if not self.start <= ts < self.end:
            self._check_inside(ts)
        # ``_apply`` with open = high = low = close = price, spelled out: this runs per tick.
        price = tick.price
        key = (ts, tick.seq)
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
        self._volume += tick.volume
        self._ticks += 1

    def add_bar(self, bar: Bar) -> None:
        """Add a shorter closed bar that lies inside this bar."""
        self._check_inside(bar.ts)
        # A bar's open is its earliest price and its close its latest: key both by bar time.
        self._apply(bar.open, bar.high, bar.low, bar.close, (bar.ts, 0), (bar.ts, 0))
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
        open_key: tuple[datetime, int],
        close_key: tuple[datetime, int],
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


@dataclass(frozen=True, slots=True)
class ClosePolicy:
    """Decide when a bar closes: an input at or past its end, or the clock past end + grace."""

    minutes: int
    grace: timedelta = DEFAULT_GRACE

    def start_of(self, when: datetime) -> datetime:
        """Return the open time of the bar holding ``when``."""
        return bar_start(when, self.minutes)

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
    last_ts: datetime | None = None
    seen: set[tuple[time, float, int, int | None]] = field(default_factory=set)


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

    def forming(self) -> list[Bar]:
        """Return snapshots (``closed=False``) of the bars still forming."""
        return [
            s.builder.build(closed=False)
            for s in self._symbols.values()
            if s.builder is not None and not s.builder.empty
        ]

    @property
    def rejected(self) -> int:
        """Return how many inputs were counted and not applied."""
        return sum(n for outcome, n in self.counts.items() if outcome in REJECTED_OUTCOMES)

    def _route(self, symbol: str, when: datetime) -> tuple[_SymbolState, TickOutcome]:
        """Find the state for an input at ``when``, closing bars it ends; say if it is late."""
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
        if state.last_ts is not None and when < state.last_ts:
            return state, TickOutcome.OUT_OF_ORDER
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

    def on_tick(self, tick: Tick) -> TickOutcome:
        """Apply one tick, closing the bars it ends; return (and count) what happened."""
        outcome = self._classify(tick)
        self.counts[outcome] += 1
        return outcome

    def _classify(self, tick: Tick) -> TickOutcome:
        when = to_ist(tick.ts)
        state = self._symbols.get(tick.symbol)
        builder = None if state is None else state.builder
        if state is not None and builder is not None and builder.start <= when < builder.end:
            # The common case, per tick: inside the forming bar's span, which lies in the
            # session, neither closes the bar nor is late; what ``_route`` would find.
            late = state.last_ts is not None and when < state.last_ts
            outcome = TickOutcome.OUT_OF_ORDER if late else TickOutcome.ACCEPTED
        else:
            if not in_session(when):
                return TickOutcome.OUTSIDE_SESSION
            state, outcome = self._route(tick.symbol, when)
            if outcome is TickOutcome.LATE:
                return outcome
            builder = state.builder
            assert builder is not None
        # A bar lies within one day, so the clock time names the instant among ``seen`` (which
        # holds the forming bar's ticks); hashing a naive time is far cheaper than an aware one.
        key = (when.time(), tick.price, tick.last_qty, tick.cum_volume)
        if key in state.seen:
            return TickOutcome.DUPLICATE
        state.seen.add(key)
        builder.add_tick(tick)
        if state.last_ts is None or when > state.last_ts:
            state.last_ts = when
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
        if outcome is TickOutcome.OUT_OF_ORDER or when == state.last_ts:
            # Two bars for one minute, or one going back in time, contradict the source.
            return TickOutcome.DUPLICATE if when == state.last_ts else TickOutcome.LATE
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
