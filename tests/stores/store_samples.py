"""Sample domain objects for the store tests, with every field set to something telling."""

from __future__ import annotations

from datetime import timedelta

from pixity.domain import (
    Bar,
    Bias,
    DayPnl,
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
)
from pixity.markettime import ist

SYM = "NSE_EQ|INE155A01022"
SYM2 = "NSE_EQ|INE002A01018"
STRATEGY = "pixityAI_meta"
T0 = ist(2024, 1, 15, 9, 15)


def tick(i: int, symbol: str = SYM, cum_volume: int | None = 1000) -> Tick:
    """Return the i-th tick of a symbol, 250 ms apart (with a millisecond part)."""
    return Tick(
        symbol=symbol,
        ts=T0 + timedelta(milliseconds=250 * i + 7),
        price=100.5 + i / 100,
        last_qty=3 + i,
        cum_volume=None if cum_volume is None else cum_volume + i,
        volume=5 + i,
        seq=i,
    )


def bar(minute: int = 0, symbol: str = SYM, *, closed: bool = True, ticks: int = 7) -> Bar:
    """Return a 1m bar ``minute`` minutes after 09:15."""
    return Bar(
        symbol=symbol,
        ts=T0 + timedelta(minutes=minute),
        minutes=1,
        open=101.25,
        high=103.5 + ticks / 100,
        low=99.75,
        close=102.0,
        volume=1234 + ticks,
        tick_count=ticks,
        closed=closed,
    )


def signal(minute: int = 0, symbol: str = SYM, kind: SignalType = SignalType.SELL) -> Signal:
    """Return a signal on the 15m bar ``minute`` minutes after 09:15."""
    return Signal.create(
        strategy_id=STRATEGY,
        symbol=symbol,
        timestamp=T0 + timedelta(minutes=minute),
        signal_type=kind,
        confidence=0.73,
    )


def runner_state(symbol: str = SYM, **changes: object) -> RunnerState:
    """Return a runner state, with ``changes`` applied."""
    fields: dict[str, object] = {
        "symbol": symbol,
        "strategy_id": STRATEGY,
        "timeframe": "15m",
        "current_bias": Bias.SELL,
        "signal_state": SignalState.SETUP,
        "last_bar_ts": T0 + timedelta(minutes=45),
        "status": RunnerStatus.ERROR,
        "last_error": "model file missing",
    }
    fields.update(changes)
    return RunnerState(**fields)  # type: ignore[arg-type]


def order(order_id: str = "ord-1", **changes: object) -> Order:
    """Return a LIMIT order, with ``changes`` applied."""
    fields: dict[str, object] = {
        "order_id": order_id,
        "strategy_id": STRATEGY,
        "symbol": SYM,
        "side": Side.SELL,
        "quantity": 40,
        "order_type": OrderType.LIMIT,
        "limit_price": 101.35,
        "ts": T0 + timedelta(minutes=31, seconds=5),
        "status": OrderStatus.OPEN,
        "signal_id": signal().signal_id,
        "reason": "entry on SELL signal",
    }
    fields.update(changes)
    return Order(**fields)  # type: ignore[arg-type]


def fill(fill_id: str = "fill-1") -> Fill:
    """Return a fill of ``order()``."""
    return Fill(
        fill_id=fill_id,
        order_id="ord-1",
        symbol=SYM,
        side=Side.SELL,
        quantity=40,
        price=101.4,
        ts=T0 + timedelta(minutes=31, seconds=9),
        costs=23.17,
    )


def position(quantity: int = -40) -> Position:
    """Return a short position (or a flat one for quantity 0)."""
    return Position(
        strategy_id=STRATEGY,
        symbol=SYM,
        quantity=quantity,
        avg_price=None if quantity == 0 else 101.4,
        realised_pnl=-12.5,
        ts=T0 + timedelta(minutes=31, seconds=9),
    )


def day_pnl(killed: bool = True) -> DayPnl:
    """Return a day's P&L, killed by the loss limit."""
    return DayPnl(
        session_date="2024-01-15",
        realised=-4200.5,
        unrealised=-850.25,
        costs=61.75,
        killed=killed,
        kill_reason="daily loss 5050.75 reached limit 5000" if killed else None,
    )


def risk_event(symbol: str | None = SYM, detail: str = "entry blocked after 15:00") -> RiskEvent:
    """Return a risk event."""
    return RiskEvent(
        ts=ist(2024, 1, 15, 15, 0, 3), kind="entry_blocked", symbol=symbol, detail=detail
    )


def gap(end: bool = True) -> Gap:
    """Return a feed gap, closed or still open."""
    return Gap(
        feed="upstox",
        start=ist(2024, 1, 15, 10, 2, 11),
        end=ist(2024, 1, 15, 10, 3, 40) if end else None,
        reason="websocket closed: 1006",
    )
