"""Real stores for the scanner tests, written by their writer classes with domain objects."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from pixity.clock import ManualClock
from pixity.domain import (
    Bar,
    Bias,
    DayPnl,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Position,
    RunnerState,
    RunnerStatus,
    Side,
    Signal,
    SignalState,
    SignalType,
)
from pixity.markettime import ist
from pixity.stores import ConfigStore, MarketStore, PaperStore, SignalStore, StorePaths
from pixity.stores.market import IngestState

SYM = "NSE_EQ|INE155A01022"
SYM2 = "NSE_EQ|INE002A01018"
SYM3 = "NSE_EQ|INE467B01029"  # a runner with no bars, signals or position
STRATEGY = "pixityAI_meta"
OTHER = "breakout_v2"
DAY = date(2025, 6, 2)  # a Monday, a trading day
T0 = ist(2025, 6, 2, 9, 15)
NOW = ist(2025, 6, 2, 10, 0)
YESTERDAY = ist(2025, 5, 30, 11, 0)  # the trading day before


def clock(when: object = NOW) -> ManualClock:
    """Return a clock standing at ``when``."""
    return ManualClock(when)  # type: ignore[arg-type]


def bar_1m(symbol: str, minute: int, open_: float, close: float, *, closed: bool = True) -> Bar:
    """Return a 1m bar ``minute`` minutes after 09:15 with a range around open and close."""
    return Bar(
        symbol=symbol,
        ts=T0 + timedelta(minutes=minute),
        minutes=1,
        open=open_,
        high=max(open_, close) + 0.5,
        low=min(open_, close) - 0.25,
        close=close,
        volume=100 + minute,
        tick_count=3 + minute % 4,
        closed=closed,
    )


def sym_bars() -> list[Bar]:
    """Return SYM's 1m bars of the day: closed 09:15..09:55 (not 09:23, no trade), one forming."""
    bars = [
        bar_1m(SYM, m, 100.0 + m / 10, 100.2 + m / 10) for m in range(41) if m != 8
    ]  # 09:15 open 100.0
    bars.append(bar_1m(SYM, 41, 104.1, 104.5, closed=False))  # 09:56, still forming
    return bars


def sym2_bars() -> list[Bar]:
    """Return SYM2's bars: 09:15 opens at 50, 09:31 closes at 48."""
    return [bar_1m(SYM2, 0, 50.0, 49.5), bar_1m(SYM2, 16, 49.0, 48.0)]


def write_market(paths: StorePaths, *, state_day: date = DAY, rolled: bool = False) -> None:
    """Write the day's bars and the ingest's state (plus an older day's bar)."""
    state = IngestState(
        session_date=state_day,
        journal_file=f"{state_day}.journal",
        journal_offset=10,
        next_seq=5,
        feed_clock_ms=None,
    )
    with MarketStore(paths.market) as store:
        old = Bar(
            symbol=SYM, ts=YESTERDAY, minutes=1, open=90.0, high=91.0, low=89.0, close=90.5,
            volume=10, tick_count=1, closed=True,
        )  # fmt: skip
        store.write_batch([], [old, *sym_bars(), *sym2_bars()], state=state)
        if rolled:
            store.roll_over_session(state_day)


def runner(symbol: str, strategy_id: str = STRATEGY, **changes: object) -> RunnerState:
    """Return a RUNNING runner state of (symbol, strategy), with ``changes``."""
    fields: dict[str, object] = {
        "symbol": symbol,
        "strategy_id": strategy_id,
        "timeframe": "15m",
        "current_bias": Bias.BUY,
        "signal_state": SignalState.IDLE,
        "last_bar_ts": T0 + timedelta(minutes=30),
        "status": RunnerStatus.RUNNING,
        "last_error": None,
    }
    fields.update(changes)
    return RunnerState(**fields)  # type: ignore[arg-type]


def write_config(paths: StorePaths) -> None:
    """Write four runners: SYM under two strategies, SYM2 (ERROR) and SYM3."""
    with ConfigStore(paths.config) as store:
        store.upsert_runner_state(runner(SYM, signal_state=SignalState.TRIGGERED))
        store.upsert_runner_state(runner(SYM, OTHER, current_bias=Bias.NEUTRAL))
        store.upsert_runner_state(
            runner(SYM2, status=RunnerStatus.ERROR, last_error="model file missing")
        )
        store.upsert_runner_state(runner(SYM3, status=RunnerStatus.STALE, last_bar_ts=None))


def signal(symbol: str, minute: int, kind: SignalType, confidence: float, **kw: object) -> Signal:
    """Return a signal of ``STRATEGY`` (or ``strategy_id``) on the bar ``minute`` after 09:15."""
    return Signal.create(
        strategy_id=str(kw.get("strategy_id", STRATEGY)),
        symbol=symbol,
        timestamp=kw.get("when", T0 + timedelta(minutes=minute)),  # type: ignore[arg-type]
        signal_type=kind,
        confidence=confidence,
    )


# Written out of bar order: the newest bar's signal (09:45) is not the last row written.
SYM_SIGNALS = [
    signal(SYM, 0, SignalType.BUY, 0.61),
    signal(SYM, 30, SignalType.EXIT, 0.52),  # 09:45: the last one
    signal(SYM, 15, SignalType.SELL, 0.83),
    signal(SYM, 0, SignalType.BUY, 0.4, when=YESTERDAY.replace(minute=15)),
]
OTHER_SIGNAL = signal(SYM, 15, SignalType.SELL, 0.9, strategy_id=OTHER)
SYM2_SIGNAL = signal(SYM2, 0, SignalType.BUY, 0.7)


def write_signals(paths: StorePaths) -> None:
    """Write SYM's signals (out of order), one of OTHER's and one of SYM2."""
    with SignalStore(paths.signals) as store:
        for sig in [*SYM_SIGNALS, OTHER_SIGNAL, SYM2_SIGNAL]:
            store.save_signal(sig)


def order(order_id: str, side: Side, minute: int, strategy_id: str = STRATEGY) -> Order:
    """Return a filled MARKET order of 10 SYM at ``minute`` after 09:15."""
    return Order(
        order_id=order_id, strategy_id=strategy_id, symbol=SYM, side=side, quantity=10,
        order_type=OrderType.MARKET, limit_price=None, ts=T0 + timedelta(minutes=minute),
        status=OrderStatus.FILLED, signal_id=None, reason="test",
    )  # fmt: skip


def fill(fill_id: str, order_id: str, side: Side, minute: int, price: float) -> Fill:
    """Return a fill of 10 SYM, a few seconds after ``minute`` past 09:15."""
    return Fill(
        fill_id=fill_id, order_id=order_id, symbol=SYM, side=side, quantity=10, price=price,
        ts=T0 + timedelta(minutes=minute, seconds=2), costs=1.5,
    )  # fmt: skip


def write_paper(paths: StorePaths, *, killed: bool = False) -> None:
    """Write SYM long 10 @ 101 (realised 5), OTHER short, an old SYM2 row, and the day's P&L."""
    with PaperStore(paths.paper) as store:
        store.save_order(order("o-1", Side.BUY, 1))
        store.save_order(order("o-2", Side.SELL, 20, OTHER))
        store.save_fill(fill("f-1", "o-1", Side.BUY, 1, 101.0))
        store.save_fill(fill("f-2", "o-2", Side.SELL, 20, 102.0))
        store.upsert_position(
            Position(strategy_id=STRATEGY, symbol=SYM, quantity=10, avg_price=101.0,
                     realised_pnl=5.0, ts=T0 + timedelta(minutes=1, seconds=2))
        )  # fmt: skip
        store.upsert_position(
            Position(strategy_id=OTHER, symbol=SYM, quantity=-10, avg_price=102.0,
                     realised_pnl=0.0, ts=T0 + timedelta(minutes=20, seconds=2))
        )  # fmt: skip
        store.upsert_position(  # yesterday's: not today's position
            Position(strategy_id=STRATEGY, symbol=SYM2, quantity=-5, avg_price=60.0,
                     realised_pnl=-40.0, ts=YESTERDAY)
        )  # fmt: skip
        store.upsert_day_pnl(
            DayPnl(session_date=DAY.isoformat(), realised=5.0, unrealised=-12.0, costs=3.0,
                   killed=killed, kill_reason="daily loss limit hit" if killed else None)
        )  # fmt: skip


def write_all(data_dir: Path) -> StorePaths:
    """Write every store under ``data_dir``; return its paths."""
    paths = StorePaths(data_dir)
    write_market(paths)
    write_config(paths)
    write_signals(paths)
    write_paper(paths)
    return paths
