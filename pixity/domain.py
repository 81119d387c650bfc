"""The domain model: frozen, slotted, keyword-only value objects with checked invariants.

Change an object with ``dataclasses.replace`` (the constructor checks the result again).
Required market fields have no defaults: a missing price is an error, never 0.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pixity.errors import InvalidValueError
from pixity.markettime import IST, format_ts, require_aware, to_epoch_ms, to_ist

# Upstox instrument keys: segment '|' token, e.g. NSE_EQ|INE155A01022, NSE_INDEX|Nifty 50.
INSTRUMENT_KEY_RE = re.compile(
    r"^(NSE|BSE|MCX|NCD|BCD)_(EQ|FO|INDEX|COM|CD)\|[A-Za-z0-9][A-Za-z0-9 &._-]{0,39}$"
)
_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")
_TIMEFRAME_RE = re.compile(r"^[1-9][0-9]{0,2}m$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Keys already matched: every tick and bar checks its key, and a day has a few thousand keys.
_GOOD_SYMBOLS: set[str] = set()
_GOOD_SYMBOLS_MAX = 100_000
# Likewise strategy ids and timeframes, which every signal, runner state and order repeats.
_GOOD_NAMES: set[str] = set()
_GOOD_TIMEFRAMES: set[str] = set()


class SignalType(StrEnum):
    """What a signal asks for."""

    BUY = "BUY"
    SELL = "SELL"
    EXIT = "EXIT"


class SignalStatus(StrEnum):
    """Where a stored signal stands."""

    PENDING = "PENDING"
    FILLED = "FILLED"
    REJECTED = "REJECTED"


class Bias(StrEnum):
    """A strategy's current directional view of a symbol."""

    BUY = "BUY"
    SELL = "SELL"
    NEUTRAL = "NEUTRAL"


class SignalState(StrEnum):
    """IDLE; SETUP = primary rule fired but the meta-model declined; TRIGGERED = signal emitted."""

    IDLE = "IDLE"
    SETUP = "SETUP"
    TRIGGERED = "TRIGGERED"


class RunnerStatus(StrEnum):
    """The life of one (symbol, strategy) runner."""

    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STALE = "STALE"
    STOPPED = "STOPPED"
    ERROR = "ERROR"


class Side(StrEnum):
    """Order and fill side."""

    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    """Order types the paper broker knows."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"


class OrderStatus(StrEnum):
    """Where an order stands."""

    OPEN = "OPEN"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"


# ---------------------------------------------------------------- checks


def check_symbol(symbol: str) -> str:
    """Return ``symbol`` if it is an Upstox instrument key, else raise."""
    if symbol.__class__ is str and symbol in _GOOD_SYMBOLS:
        return symbol
    if not isinstance(symbol, str) or not INSTRUMENT_KEY_RE.match(symbol):
        raise InvalidValueError(
            f"instrument key {symbol!r} is not like 'NSE_EQ|INE155A01022' (segment|token)"
        )
    if symbol.__class__ is str and len(_GOOD_SYMBOLS) < _GOOD_SYMBOLS_MAX:
        _GOOD_SYMBOLS.add(symbol)
    return symbol


def _check_id(value: str, what: str) -> None:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise InvalidValueError(f"{what} {value!r} must be 1-80 characters of [A-Za-z0-9_.:-]")


def _check_name(value: str, what: str) -> None:
    """``_check_id`` for the few ids every object repeats (strategy ids), remembered once good."""
    if value.__class__ is str and value in _GOOD_NAMES:
        return
    _check_id(value, what)
    if value.__class__ is str and len(_GOOD_NAMES) < _GOOD_SYMBOLS_MAX:
        _GOOD_NAMES.add(value)


def _check_timeframe(value: str) -> None:
    if value.__class__ is str and value in _GOOD_TIMEFRAMES:
        return
    if not isinstance(value, str) or not _TIMEFRAME_RE.match(value):
        raise InvalidValueError(f"timeframe {value!r} is not like '15m'")
    if value.__class__ is str and len(_GOOD_TIMEFRAMES) < _GOOD_SYMBOLS_MAX:
        _GOOD_TIMEFRAMES.add(value)


def _check_price(value: float, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValueError(f"{what} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidValueError(f"{what} {value!r} must be finite and > 0")


def _check_count(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError(f"{what} must be an int, got {type(value).__name__}")
    if value < 0:
        raise InvalidValueError(f"{what} {value} must be >= 0")


def _check_finite(value: float, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidValueError(f"{what} {value!r} must be a finite number")


def _check_enum(value: object, enum: type[StrEnum], what: str) -> None:
    if not isinstance(value, enum):
        raise InvalidValueError(f"{what} {value!r} must be a {enum.__name__}")


def _check_aware(value: datetime, what: str) -> None:
    require_aware(value, what)


# ---------------------------------------------------------------- market data


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """One trade print from the feed, already parsed at the feed's boundary.

    ``last_qty`` and ``cum_volume`` are the feed's ``ltq`` and ``vtt`` as received;
    ``volume`` is the quantity this tick adds to its bar (the change in ``vtt`` where the
    feed gives it, else ``ltq``), decided by the adapter. ``seq`` is the receive order.
    """

    symbol: str
    ts: datetime
    price: float
    last_qty: int
    cum_volume: int | None
    volume: int
    seq: int

    def __post_init__(self) -> None:
        # Per tick: a known key and an IST time are settled inline (the checks' fast paths).
        if not (self.symbol.__class__ is str and self.symbol in _GOOD_SYMBOLS):
            check_symbol(self.symbol)
        if not (self.ts.__class__ is datetime and self.ts.tzinfo is IST):
            _check_aware(self.ts, "tick time")
        if self.ts.microsecond % 1000:
            # Exchange times (Upstox ltt) and the ticks table are in milliseconds.
            raise InvalidValueError(f"tick time {self.ts.isoformat()} is finer than a millisecond")
        # Per tick: plain floats and ints are settled inline; anything else goes to the full
        # checks, which accept or refuse it exactly as before (and in the same order).
        price = self.price
        if not (price.__class__ is float and 0.0 < price < math.inf):
            _check_price(price, f"tick price for {self.symbol}")
        if not (self.last_qty.__class__ is int and self.last_qty >= 0):
            _check_count(self.last_qty, "last_qty")
        cum = self.cum_volume
        if cum is not None and not (cum.__class__ is int and cum >= 0):
            _check_count(cum, "cum_volume")
        if not (self.volume.__class__ is int and self.volume >= 0):
            _check_count(self.volume, "tick volume")
        if not (self.seq.__class__ is int and self.seq >= 0):
            _check_count(self.seq, "seq")


# A tick as the ``ticks`` table holds it: symbol, exchange time (epoch ms), price, last
# quantity, cumulative volume (or None), seq, the volume it adds. The ingest builds bars and
# rows from these directly, without a ``Tick`` per trade; its validator makes sure the values
# are exactly what a ``Tick`` accepts.
TickRow = tuple[str, int, float, int, int | None, int, int]


def tick_row(tick: Tick) -> TickRow:
    """Return ``tick`` as the ``ticks`` table's row."""
    return (tick.symbol, to_epoch_ms(tick.ts), tick.price, tick.last_qty, tick.cum_volume,
            tick.seq, tick.volume)  # fmt: skip


def attributed_volume(prev_cum: int | None, cum: int | None, last_qty: int) -> int:
    """Return the volume a tick adds: the rise in cumulative volume, else its last quantity.

    A cumulative volume that goes down (a feed reset) or is missing falls back to ``last_qty``.
    """
    if prev_cum is not None and cum is not None and cum >= prev_cum:
        return cum - prev_cum
    return last_qty


@dataclass(frozen=True, slots=True, kw_only=True)
class Bar:
    """An OHLCV bar labelled by its open time ``ts`` (IST), ``minutes`` long."""

    symbol: str
    ts: datetime
    minutes: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    tick_count: int
    closed: bool

    def __post_init__(self) -> None:
        # Per bar (a backtest builds millions): plain, well-formed values are settled inline;
        # anything else goes to the full checks, which accept or refuse it as before.
        o, h, lo, c = self.open, self.high, self.low, self.close
        if (
            self.symbol.__class__ is str
            and self.symbol in _GOOD_SYMBOLS
            and self.ts.__class__ is datetime
            and self.ts.tzinfo is IST
            and not (self.ts.second or self.ts.microsecond)
            and self.minutes.__class__ is int
            and self.minutes >= 1
            and o.__class__ is float and h.__class__ is float
            and lo.__class__ is float and c.__class__ is float
            and 0.0 < lo <= o <= h < math.inf
            and lo <= c <= h
            and self.volume.__class__ is int and self.volume >= 0
            and self.tick_count.__class__ is int and self.tick_count >= 0
            and self.closed.__class__ is bool
        ):  # fmt: skip
            return
        self._check()

    def _check(self) -> None:
        check_symbol(self.symbol)
        _check_aware(self.ts, "bar time")
        if self.ts.second or self.ts.microsecond:
            raise InvalidValueError(f"bar time {self.ts.isoformat()} is not on a minute")
        if isinstance(self.minutes, bool) or not isinstance(self.minutes, int) or self.minutes < 1:
            raise InvalidValueError(f"bar length {self.minutes!r} minutes must be an int >= 1")
        where = f"{self.symbol} {self.ts.isoformat()}"
        for name in ("open", "high", "low", "close"):
            _check_price(getattr(self, name), f"{name} of bar {where}")
        if self.high < self.low:
            raise InvalidValueError(f"bar {where}: high {self.high} < low {self.low}")
        for name in ("open", "close"):
            value = getattr(self, name)
            if not self.low <= value <= self.high:
                raise InvalidValueError(
                    f"bar {where}: {name} {value} outside low {self.low} .. high {self.high}"
                )
        _check_count(self.volume, f"volume of bar {where}")
        _check_count(self.tick_count, f"tick_count of bar {where}")
        if not isinstance(self.closed, bool):
            raise InvalidValueError(f"bar {where}: closed must be a bool")

    @property
    def timeframe(self) -> str:
        """Return the bar length as text, e.g. '15m'."""
        return f"{self.minutes}m"


_BAR_SETTERS = tuple(getattr(Bar, name).__set__ for name in Bar.__slots__)
_new_object = object.__new__


def checked_bar(values: tuple[object, ...]) -> Bar:
    """Return the ``Bar`` of ``values`` (its fields in order) without checking them again.

    Only for values already checked as ``Bar`` checks them: ``pixity.barcolumns`` makes a
    day's 15m bars this way from 1m columns it has validated (a backtest makes millions; the
    frozen dataclass's ``__init__`` costs twice this). A test checks that every bar made so
    passes ``Bar``'s own checks.
    """
    bar = _new_object(Bar)
    for setter, value in zip(_BAR_SETTERS, values, strict=True):
        setter(bar, value)
    return bar


# ---------------------------------------------------------------- strategy output


def make_signal_id(strategy_id: str, symbol: str, ts: datetime, signal_type: SignalType) -> str:
    """Return the deterministic id of a signal, so a replay produces the same id."""
    text = _ts_text(ts) if ts.__class__ is datetime else format_ts(ts)
    key = f"{strategy_id}|{symbol}|{text}|{signal_type.value}"
    return "sig-" + hashlib.sha256(key.encode()).hexdigest()[:20]


@functools.lru_cache(maxsize=4096)
def _ts_text(ts: datetime) -> str:
    # Every symbol's signals on a bar share its time: format it once. Equal datetimes are the
    # same instant, so they have the same IST text whatever their timezone.
    return format_ts(ts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Signal:
    """A strategy's call on a symbol, computed on the close of the bar opening at ``timestamp``.

    Stored with ``bar_ts`` = ``timestamp``.
    """

    signal_id: str
    strategy_id: str
    symbol: str
    timestamp: datetime
    signal_type: SignalType
    confidence: float

    def __post_init__(self) -> None:
        # Per signal (a backtest's warm-ups make hundreds of thousands): plain values are
        # settled inline, anything else goes to the full checks, in the same order as ever.
        if not (self.signal_id.__class__ is str and _ID_RE.match(self.signal_id)):
            _check_id(self.signal_id, "signal_id")
        if not (self.strategy_id.__class__ is str and self.strategy_id in _GOOD_NAMES):
            _check_name(self.strategy_id, "strategy_id")
        if not (self.symbol.__class__ is str and self.symbol in _GOOD_SYMBOLS):
            check_symbol(self.symbol)
        ts = self.timestamp
        if not (ts.__class__ is datetime and ts.tzinfo is IST):
            _check_aware(ts, "signal timestamp")
        if self.signal_type.__class__ is not SignalType:
            _check_enum(self.signal_type, SignalType, "signal_type")
        confidence = self.confidence
        if not (confidence.__class__ is float and 0.0 <= confidence <= 1.0):
            _check_finite(confidence, "confidence")
            if not 0.0 <= confidence <= 1.0:
                raise InvalidValueError(f"confidence {confidence} must be in [0, 1]")

    @classmethod
    def create(
        cls,
        *,
        strategy_id: str,
        symbol: str,
        timestamp: datetime,
        signal_type: SignalType,
        confidence: float,
    ) -> Signal:
        """Build a signal whose id is derived from what identifies it."""
        return cls(
            signal_id=make_signal_id(strategy_id, symbol, timestamp, signal_type),
            strategy_id=strategy_id,
            symbol=symbol,
            timestamp=timestamp,
            signal_type=signal_type,
            confidence=confidence,
        )


# ``last_error`` of a RUNNING runner whose strategy has seen fewer bars than its warm-up needs
# (the history lake is short before the session day) starts with this; health lists them.
WARMING_UP = "warming up"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerState:
    """The state of one (symbol, strategy) runner, as the scanner shows it.

    ``last_error`` says why a runner is ERROR or STALE; while a RUNNING runner's strategy is
    still short of its warm-up bars it says that (``WARMING_UP ...``), else it is None.
    """

    symbol: str
    strategy_id: str
    timeframe: str
    current_bias: Bias
    signal_state: SignalState
    last_bar_ts: datetime | None
    status: RunnerStatus
    last_error: str | None

    def __post_init__(self) -> None:
        check_symbol(self.symbol)
        _check_name(self.strategy_id, "strategy_id")
        _check_timeframe(self.timeframe)
        _check_enum(self.current_bias, Bias, "current_bias")
        _check_enum(self.signal_state, SignalState, "signal_state")
        _check_enum(self.status, RunnerStatus, "status")
        if self.last_bar_ts is not None:
            _check_aware(self.last_bar_ts, "last_bar_ts")
        if self.status is RunnerStatus.ERROR and not self.last_error:
            raise InvalidValueError(
                f"runner {self.symbol}/{self.strategy_id} is ERROR without last_error"
            )


# ---------------------------------------------------------------- paper trading


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """An order to the paper broker."""

    order_id: str
    strategy_id: str
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    limit_price: float | None
    ts: datetime
    status: OrderStatus
    signal_id: str | None
    reason: str | None

    def __post_init__(self) -> None:
        _check_id(self.order_id, "order_id")
        _check_id(self.strategy_id, "strategy_id")
        check_symbol(self.symbol)
        _check_enum(self.side, Side, "side")
        _check_enum(self.order_type, OrderType, "order_type")
        _check_enum(self.status, OrderStatus, "order status")
        _check_count(self.quantity, "order quantity")
        if self.quantity == 0:
            raise InvalidValueError(f"order {self.order_id}: quantity must be > 0")
        if self.order_type is OrderType.LIMIT:
            if self.limit_price is None:
                raise InvalidValueError(f"LIMIT order {self.order_id} needs a limit_price")
            _check_price(self.limit_price, "limit_price")
        elif self.limit_price is not None:
            raise InvalidValueError(f"MARKET order {self.order_id} must not carry a limit_price")
        _check_aware(self.ts, "order time")
        if self.signal_id is not None:
            _check_id(self.signal_id, "signal_id")
        if self.status is OrderStatus.REJECTED and not self.reason:
            raise InvalidValueError(f"rejected order {self.order_id} needs a reason")


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    """An execution of (part of) an order. ``costs`` are the charges in rupees."""

    fill_id: str
    order_id: str
    symbol: str
    side: Side
    quantity: int
    price: float
    ts: datetime
    costs: float

    def __post_init__(self) -> None:
        _check_id(self.fill_id, "fill_id")
        _check_id(self.order_id, "order_id")
        check_symbol(self.symbol)
        _check_enum(self.side, Side, "side")
        _check_count(self.quantity, "fill quantity")
        if self.quantity == 0:
            raise InvalidValueError(f"fill {self.fill_id}: quantity must be > 0")
        _check_price(self.price, "fill price")
        _check_aware(self.ts, "fill time")
        _check_finite(self.costs, "costs")
        if self.costs < 0:
            raise InvalidValueError(f"fill {self.fill_id}: costs {self.costs} must be >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """A net position: ``quantity`` > 0 long, < 0 short; ``avg_price`` is None when flat."""

    strategy_id: str
    symbol: str
    quantity: int
    avg_price: float | None
    realised_pnl: float
    ts: datetime

    def __post_init__(self) -> None:
        _check_id(self.strategy_id, "strategy_id")
        check_symbol(self.symbol)
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise InvalidValueError("position quantity must be an int")
        if self.quantity == 0:
            if self.avg_price is not None:
                raise InvalidValueError(f"flat position {self.symbol} must have avg_price None")
        elif self.avg_price is None:
            raise InvalidValueError(f"open position {self.symbol} needs an avg_price")
        else:
            _check_price(self.avg_price, "avg_price")
        _check_finite(self.realised_pnl, "realised_pnl")
        _check_aware(self.ts, "position time")


@dataclass(frozen=True, slots=True, kw_only=True)
class DayPnl:
    """A session day's paper P&L and kill state (persisted so a restart keeps it)."""

    session_date: str
    realised: float
    unrealised: float
    costs: float
    killed: bool
    kill_reason: str | None

    def __post_init__(self) -> None:
        if not _DATE_RE.match(str(self.session_date)):
            raise InvalidValueError(f"session_date {self.session_date!r} is not YYYY-MM-DD")
        for name in ("realised", "unrealised", "costs"):
            _check_finite(getattr(self, name), name)
        if self.costs < 0:
            raise InvalidValueError(f"costs {self.costs} must be >= 0")
        if self.killed and not self.kill_reason:
            raise InvalidValueError("a killed day needs a kill_reason")

    @property
    def total(self) -> float:
        """Return realised + unrealised P&L net of costs."""
        return self.realised + self.unrealised - self.costs


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskEvent:
    """Something the risk manager did or refused (a blocked entry, a kill, a square-off)."""

    ts: datetime
    kind: str
    symbol: str | None
    detail: str

    def __post_init__(self) -> None:
        _check_aware(self.ts, "risk event time")
        _check_id(self.kind, "risk event kind")
        if self.symbol is not None:
            check_symbol(self.symbol)
        if not self.detail:
            raise InvalidValueError("a risk event needs a detail")


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap:
    """A stretch of market time the feed did not cover (a disconnection)."""

    feed: str
    start: datetime
    end: datetime | None
    reason: str

    def __post_init__(self) -> None:
        _check_id(self.feed, "feed")
        _check_aware(self.start, "gap start")
        if self.end is not None:
            _check_aware(self.end, "gap end")
            if self.end < self.start:
                raise InvalidValueError(f"gap end {self.end} before start {self.start}")
        if not self.reason:
            raise InvalidValueError("a gap needs a reason")


class FeedState(StrEnum):
    """Where a feed connection stands."""

    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    STOPPED = "STOPPED"


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedStatus:
    """The state of one feed as ingest last saw it.

    ``last_tick_ts`` is the market time of the newest tick; ``last_message_at`` the wall-clock
    time the last frame of any kind arrived (a heartbeat counts).
    """

    feed: str
    state: FeedState
    last_tick_ts: datetime | None
    last_message_at: datetime | None
    reconnects: int
    last_error: str | None

    def __post_init__(self) -> None:
        _check_id(self.feed, "feed")
        _check_enum(self.state, FeedState, "feed state")
        if self.last_tick_ts is not None:
            _check_aware(self.last_tick_ts, "last_tick_ts")
        if self.last_message_at is not None:
            _check_aware(self.last_message_at, "last_message_at")
        _check_count(self.reconnects, "reconnects")

    @property
    def connected(self) -> bool:
        """Tell whether the feed is connected."""
        return self.state is FeedState.CONNECTED


def ist_date_of(when: datetime) -> str:
    """Return the IST session date of ``when`` as YYYY-MM-DD."""
    return to_ist(when).date().isoformat()
