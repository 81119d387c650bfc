"""Domain objects: frozen, slotted, keyword-only, and invariants with clear messages."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime

import pytest

from pixity.domain import (
    Bar,
    Bias,
    DayPnl,
    FeedStatus,
    Fill,
    Gap,
    Order,
    OrderStatus,
    OrderType,
    Position,
    RiskEvent,
    RunnerState,
    RunnerStatus,
    Side,
    Signal,
    SignalState,
    SignalType,
    Tick,
    attributed_volume,
    check_symbol,
    make_signal_id,
)
from pixity.errors import InvalidValueError
from pixity.markettime import ist

KEY = "NSE_EQ|INE155A01022"
T0 = ist(2025, 6, 2, 9, 30)


def bar(**over: object) -> Bar:
    fields: dict[str, object] = dict(
        symbol=KEY,
        ts=T0,
        minutes=15,
        open=100.0,
        high=101.0,
        low=99.0,
        close=100.5,
        volume=10,
        tick_count=3,
        closed=True,
    )
    fields.update(over)
    return Bar(**fields)  # type: ignore[arg-type]


ALL_CLASSES = [
    Tick,
    Bar,
    Signal,
    RunnerState,
    Order,
    Fill,
    Position,
    DayPnl,
    RiskEvent,
    Gap,
    FeedStatus,
]


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_frozen_slotted_keyword_only(cls: type) -> None:
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen
    assert hasattr(cls, "__slots__")
    assert all(f.kw_only for f in dataclasses.fields(cls))


@pytest.mark.parametrize("cls", [Tick, Bar, Signal, Fill])
def test_market_fields_have_no_defaults(cls: type) -> None:
    for f in dataclasses.fields(cls):
        assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, f.name


def test_bar_is_immutable_and_replace_rechecks() -> None:
    b = bar()
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.close = 1.0  # type: ignore[misc]
    with pytest.raises(InvalidValueError, match="high 98.0 < low 99.0"):
        dataclasses.replace(b, high=98.0)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"high": 98.0}, "high 98.0 < low 99.0"),
        ({"open": 102.0}, "open 102.0 outside low 99.0 .. high 101.0"),
        ({"close": 98.5}, "close 98.5 outside"),
        ({"close": math.nan}, "close of bar .* must be finite"),
        ({"low": math.inf}, "low of bar .* must be finite"),
        ({"open": 0.0}, "must be finite and > 0"),
        ({"volume": -1}, "volume of bar .* must be >= 0"),
        ({"ts": datetime(2025, 6, 2, 9, 30)}, "naive"),  # noqa: DTZ001 - the point of the test
        ({"ts": ist(2025, 6, 2, 9, 30, 5)}, "not on a minute"),
        ({"symbol": "INE155A01022"}, "instrument key"),
        ({"minutes": 0}, "bar length"),
        ({"volume": 1.5}, "must be an int"),
        ({"closed": 1}, "closed must be a bool"),
    ],
)
def test_bar_invariants(over: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        bar(**over)


def test_tick_invariants() -> None:
    ok = dict(symbol=KEY, ts=T0, price=100.05, last_qty=5, cum_volume=None, volume=5, seq=0)
    Tick(**ok)  # type: ignore[arg-type]
    for over, message in [
        ({"price": -1.0}, "tick price .* must be finite and > 0"),
        ({"price": math.nan}, "must be finite"),
        ({"last_qty": -1}, "last_qty -1 must be >= 0"),
        ({"cum_volume": -5}, "cum_volume"),
        ({"ts": datetime(2025, 6, 2, 9, 30)}, "naive"),  # noqa: DTZ001
        ({"symbol": "NSE_EQ|"}, "instrument key"),
        ({"ts": T0.replace(microsecond=1500)}, "finer than a millisecond"),
    ]:
        with pytest.raises(InvalidValueError, match=message):
            Tick(**{**ok, **over})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Tick(symbol=KEY, ts=T0, last_qty=5, cum_volume=None, volume=5, seq=0)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "key", ["NSE_EQ|INE155A01022", "NSE_INDEX|Nifty 50", "NSE_FO|45450", "BSE_EQ|INE002A01018"]
)
def test_valid_instrument_keys(key: str) -> None:
    assert check_symbol(key) == key


@pytest.mark.parametrize(
    "key", ["", "NSE_EQ", "NSE|INE1", "nse_eq|INE155A01022", "NSE_EQ|INE|X", "NSE_EQ| x", None]
)
def test_invalid_instrument_keys(key: object) -> None:
    with pytest.raises(InvalidValueError, match="instrument key"):
        check_symbol(key)  # type: ignore[arg-type]


def test_signal_confidence_and_id() -> None:
    s = Signal.create(
        strategy_id="pixityAI_meta",
        symbol=KEY,
        timestamp=T0,
        signal_type=SignalType.BUY,
        confidence=0.7,
    )
    assert s.signal_id == make_signal_id("pixityAI_meta", KEY, T0, SignalType.BUY)
    assert (
        s.signal_id
        == Signal.create(
            strategy_id="pixityAI_meta",
            symbol=KEY,
            timestamp=T0.astimezone(UTC),
            signal_type=SignalType.BUY,
            confidence=0.1,
        ).signal_id
    )
    for bad in (1.01, -0.1, math.nan):
        with pytest.raises(InvalidValueError, match="confidence"):
            dataclasses.replace(s, confidence=bad)
    with pytest.raises(InvalidValueError, match="signal_type"):
        dataclasses.replace(s, signal_type="BUY")
    # The bar time is a required field named timestamp: no bar_ts default can hide it.
    with pytest.raises(TypeError):
        Signal(
            signal_id="x",
            strategy_id="s",
            symbol=KEY,
            signal_type=SignalType.BUY,  # type: ignore[call-arg]
            confidence=0.5,
        )


def test_runner_state_rules() -> None:
    state = RunnerState(
        symbol=KEY,
        strategy_id="pixityAI_meta",
        timeframe="15m",
        current_bias=Bias.NEUTRAL,
        signal_state=SignalState.IDLE,
        last_bar_ts=None,
        status=RunnerStatus.STARTING,
        last_error=None,
    )
    with pytest.raises(InvalidValueError, match="ERROR without last_error"):
        dataclasses.replace(state, status=RunnerStatus.ERROR)
    with pytest.raises(InvalidValueError, match="timeframe"):
        dataclasses.replace(state, timeframe="15min")
    with pytest.raises(InvalidValueError, match="naive"):
        dataclasses.replace(state, last_bar_ts=datetime(2025, 1, 1))  # noqa: DTZ001


def test_order_fill_position_rules() -> None:
    order = Order(
        order_id="o1",
        strategy_id="s",
        symbol=KEY,
        side=Side.BUY,
        quantity=10,
        order_type=OrderType.MARKET,
        limit_price=None,
        ts=T0,
        status=OrderStatus.OPEN,
        signal_id=None,
        reason=None,
    )
    with pytest.raises(InvalidValueError, match="quantity must be > 0"):
        dataclasses.replace(order, quantity=0)
    with pytest.raises(InvalidValueError, match="needs a limit_price"):
        dataclasses.replace(order, order_type=OrderType.LIMIT)
    with pytest.raises(InvalidValueError, match="needs a reason"):
        dataclasses.replace(order, status=OrderStatus.REJECTED)
    fill = Fill(
        fill_id="f1",
        order_id="o1",
        symbol=KEY,
        side=Side.BUY,
        quantity=10,
        price=100.0,
        ts=T0,
        costs=1.2,
    )
    with pytest.raises(InvalidValueError, match="costs -1.0 must be >= 0"):
        dataclasses.replace(fill, costs=-1.0)
    Position(strategy_id="s", symbol=KEY, quantity=-5, avg_price=100.0, realised_pnl=0.0, ts=T0)
    with pytest.raises(InvalidValueError, match="needs an avg_price"):
        Position(strategy_id="s", symbol=KEY, quantity=5, avg_price=None, realised_pnl=0.0, ts=T0)
    with pytest.raises(InvalidValueError, match="avg_price None"):
        Position(strategy_id="s", symbol=KEY, quantity=0, avg_price=1.0, realised_pnl=0.0, ts=T0)


def test_day_pnl_risk_event_gap_rules() -> None:
    day = DayPnl(
        session_date="2025-06-02",
        realised=-100.0,
        unrealised=20.0,
        costs=5.0,
        killed=False,
        kill_reason=None,
    )
    assert day.total == -85.0
    with pytest.raises(InvalidValueError, match="kill_reason"):
        dataclasses.replace(day, killed=True)
    with pytest.raises(InvalidValueError, match="YYYY-MM-DD"):
        dataclasses.replace(day, session_date="02-06-2025")
    with pytest.raises(InvalidValueError, match="detail"):
        RiskEvent(ts=T0, kind="kill", symbol=None, detail="")
    with pytest.raises(InvalidValueError, match="before start"):
        Gap(feed="upstox", start=T0, end=ist(2025, 6, 2, 9, 0), reason="disconnect")


@pytest.mark.parametrize(
    ("prev", "cum", "ltq", "expected"),
    [(None, 100, 5, 5), (100, 130, 5, 30), (100, 100, 5, 0), (100, 90, 5, 5), (100, None, 7, 7)],
)
def test_attributed_volume(prev: int | None, cum: int | None, ltq: int, expected: int) -> None:
    assert attributed_volume(prev, cum, ltq) == expected
