"""Table-driven broker scenarios (after freqtrade's BTContainer): steps in, orders, fills, P&L out.

Config unless a scenario says otherwise: max capital 100,000, per trade 25,000, 2 bps slippage
(buys rounded up to the 0.05 tick, sells down), default Upstox/NSE intraday charges.
Every fill price and charge below is worked by hand in the comment next to it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest
from broker_helpers import (
    CONFIG,
    A,
    B,
    C,
    Clock,
    FakeLedger,
    Price,
    Sig,
    Step,
    at,
    fill_rows,
    new_run,
)

from pixity.broker import BrokerConfig
from pixity.domain import OrderStatus, SignalType

BUY, SELL, EXIT = SignalType.BUY, SignalType.SELL, SignalType.EXIT
FILLED, REJECTED = "FILLED", "REJECTED"

FillRow = tuple[str, str, str, int, float, float]  # HH:MM, symbol, side, qty, price, costs


@dataclass(frozen=True)
class Scenario:
    """Steps and what must come of them."""

    steps: tuple[Step, ...]
    fills: tuple[FillRow, ...]
    outcomes: tuple[tuple[str, str, str | None], ...]
    positions: dict[str, tuple[int, float | None, float]]  # symbol: qty, avg, realised
    realised: float
    unrealised: float
    costs: float
    risk: tuple[tuple[str, str | None], ...] = ()
    killed: bool = False
    config: BrokerConfig = field(default=CONFIG)


# Charges (default rates), worked by hand, turnover = qty x price:
#   BUY 100 @ 250.50 = 25,050: brokerage min(20, 0.05% = 12.525) 12.53, exchange 0.00297% 0.74,
#     SEBI 10/crore 0.03, stamp 0.003% 0.75, GST 18% x (12.53+0.74+0.03) 2.39 -> 16.44
#   SELL 100 @ 255.00 = 25,500: brokerage 12.75, STT 0.025% 6.38, exchange 0.76, SEBI 0.03,
#     GST 18% x 13.54 = 2.44 -> 22.36
#   SELL 98 @ 255.00 = 24,990: 12.50 + STT 6.25 + 0.74 + 0.02 + GST 2.39 -> 21.90
#   SELL 100 @ 249.85 = 24,985: 12.49 + STT 6.25 + 0.74 + 0.02 + GST 2.39 -> 21.89
#   BUY 100 @ 245.05 = 24,505: 12.25 + 0.73 + 0.02 + stamp 0.74 + GST 2.34 -> 16.08
#   BUY 100 @ 250.05 = 25,005: 12.50 + 0.74 + 0.03 + stamp 0.75 + GST 2.39 -> 16.41
#   BUY 150 @ 100.05 = 15,007.50: 7.50 + 0.45 + 0.02 + stamp 0.45 + GST 1.43 -> 9.85
#   SELL 100 @ 249.95 = 24,995: 12.50 + STT 6.25 + 0.74 + 0.02 + GST 2.39 -> 21.90
#   SELL 100 @ 250.90 = 25,090: 12.55 + STT 6.27 + 0.75 + 0.03 + GST 2.40 -> 22.00
#   SELL 100 @ 244.95 = 24,495: 12.25 + STT 6.12 + 0.73 + 0.02 + GST 2.34 -> 21.46
SCENARIOS = {
    "long round trip": Scenario(
        steps=(
            Price("09:29:59", A, 250.00),
            Sig("09:30", A, BUY, "b"),  # 25,000 / 250 = 100 shares
            Price("09:30", A, 250.40),  # the 09:30 bar's open: 250.45008 -> up to 250.50
            Price("09:59:59", A, 255.00),
            Sig("10:00", A, EXIT, "x"),
            Price("10:01", A, 255.10),  # 255.10 x 0.9998 = 255.04898 -> down to 255.00
        ),
        fills=(
            ("09:30", A, "BUY", 100, 250.50, 16.44),
            ("10:01", A, "SELL", 100, 255.00, 22.36),
        ),
        outcomes=(("b", FILLED, None), ("x", FILLED, None)),
        positions={A: (0, None, 450.0)},  # 100 x (255.00 - 250.50)
        realised=450.0,
        unrealised=0.0,
        costs=38.80,
    ),
    "short round trip": Scenario(
        steps=(
            Price("09:29:59", A, 250.00),
            Sig("09:30", A, SELL, "s"),
            Price("09:31", A, 249.90),  # 249.90 x 0.9998 = 249.85002 -> down to 249.85
            Price("10:59:59", A, 245.00),
            Sig("11:00", A, EXIT, "x"),
            Price("11:01", A, 245.00),  # 245 x 1.0002 = 245.049 -> up to 245.05
        ),
        fills=(
            ("09:31", A, "SELL", 100, 249.85, 21.89),
            ("11:01", A, "BUY", 100, 245.05, 16.08),
        ),
        outcomes=(("s", FILLED, None), ("x", FILLED, None)),
        positions={A: (0, None, 480.0)},  # 100 x (249.85 - 245.05)
        realised=480.0,
        unrealised=0.0,
        costs=37.97,
    ),
    "reversal long to short": Scenario(
        steps=(
            Price("09:29:59", A, 250.00),
            Sig("09:30", A, BUY, "b"),
            Price("09:31", A, 250.40),
            Price("09:59:59", A, 255.00),
            Sig("10:00", A, SELL, "r"),  # exit 100, then enter 25,000 / 255 = 98 short
            Price("10:01", A, 255.10),
        ),
        fills=(
            ("09:31", A, "BUY", 100, 250.50, 16.44),
            ("10:01", A, "SELL", 100, 255.00, 22.36),
            ("10:01", A, "SELL", 98, 255.00, 21.90),
        ),
        outcomes=(("b", FILLED, None), ("r", FILLED, None)),
        positions={A: (-98, 255.0, 450.0)},
        realised=450.0,
        unrealised=-9.80,  # -98 x (255.10 - 255.00)
        costs=60.70,
    ),
    "reversal sized on the capital the exit frees": Scenario(
        config=dataclasses.replace(CONFIG, max_capital=25_500, per_trade_capital=25_500),
        steps=(
            Price("09:29:59", A, 250.00),
            Sig("09:30", A, BUY, "b"),  # 25,500 / 250 = 102
            Price("09:31", A, 250.40),
            Price("09:59:59", A, 255.00),  # long 102 x 255 = 26,010: above max capital now
            Sig("10:00", A, SELL, "r"),  # the exit frees it all: 25,500 / 255 = 100 short
            Price("10:01", A, 255.10),
        ),
        fills=(
            # 25,551: 12.78 + 0.76 + 0.03 + stamp 0.77 + GST 0.18 x 13.57 = 2.44 -> 16.78
            ("09:31", A, "BUY", 102, 250.50, 16.78),
            # 26,010: 13.005 -> 13.01 + STT 6.5025 -> 6.50 + 0.77 + 0.03 + GST 2.49 -> 22.80
            ("10:01", A, "SELL", 102, 255.00, 22.80),
            ("10:01", A, "SELL", 100, 255.00, 22.36),
        ),
        outcomes=(("b", FILLED, None), ("r", FILLED, None)),
        positions={A: (-100, 255.0, 459.0)},  # 102 x (255.00 - 250.50)
        realised=459.0,
        unrealised=-10.0,  # -100 x (255.10 - 255.00)
        costs=61.94,
    ),
    "already long": Scenario(
        steps=(
            Price("09:29:59", A, 250.00),
            Sig("09:30", A, BUY, "b"),
            Price("09:31", A, 250.40),
            Sig("09:45", A, BUY, "b2"),
        ),
        fills=(("09:31", A, "BUY", 100, 250.50, 16.44),),
        outcomes=(("b", FILLED, None), ("b2", REJECTED, "already long")),
        positions={A: (100, 250.5, 0.0)},
        realised=0.0,
        unrealised=-10.0,  # 100 x (250.40 - 250.50)
        costs=16.44,
    ),
    "already long, then exit": Scenario(
        # On a replay after a restart, b2 must stay refused although the book is flat by then.
        steps=(
            Price("09:29:59", A, 250.00),
            Sig("09:30", A, BUY, "b"),
            Price("09:31", A, 250.40),
            Sig("09:45", A, BUY, "b2"),
            Price("09:59:59", A, 255.00),
            Sig("10:00", A, EXIT, "x"),
            Price("10:01", A, 255.10),
        ),
        fills=(
            ("09:31", A, "BUY", 100, 250.50, 16.44),
            ("10:01", A, "SELL", 100, 255.00, 22.36),
        ),
        outcomes=(("b", FILLED, None), ("b2", REJECTED, "already long"), ("x", FILLED, None)),
        positions={A: (0, None, 450.0)},
        realised=450.0,
        unrealised=0.0,
        costs=38.80,
    ),
    "an old low price is no loss": Scenario(
        # On a replay after a restart, the 09:15 price must not be judged against the long.
        config=dataclasses.replace(CONFIG, max_daily_loss=500),
        steps=(
            Price("09:15", A, 200.00),
            Price("09:29:59", A, 250.00),
            Sig("09:30", A, BUY, "a"),
            Price("09:31", A, 250.40),
            Price("10:00", A, 251.00),
        ),
        fills=(("09:31", A, "BUY", 100, 250.50, 16.44),),
        outcomes=(("a", FILLED, None),),
        positions={A: (100, 250.5, 0.0)},
        realised=0.0,
        unrealised=50.0,  # 100 x (251.00 - 250.50)
        costs=16.44,
    ),
    "already short": Scenario(
        steps=(
            Price("09:29:59", A, 250.00),
            Sig("09:30", A, SELL, "s"),
            Price("09:31", A, 249.90),
            Sig("09:45", A, SELL, "s2"),
        ),
        fills=(("09:31", A, "SELL", 100, 249.85, 21.89),),
        outcomes=(("s", FILLED, None), ("s2", REJECTED, "already short")),
        positions={A: (-100, 249.85, 0.0)},
        realised=0.0,
        unrealised=-5.0,  # -100 x (249.90 - 249.85)
        costs=21.89,
    ),
    "exit without position": Scenario(
        steps=(Price("09:30", A, 250.00), Sig("09:30", A, EXIT, "x")),
        fills=(),
        outcomes=(("x", REJECTED, "no position to exit"),),
        positions={},
        realised=0.0,
        unrealised=0.0,
        costs=0.0,
    ),
    "no price seen": Scenario(
        steps=(Price("09:30", A, 250.00), Sig("09:30", B, BUY, "b")),
        fills=(),
        outcomes=(("b", REJECTED, f"no price seen for {B} yet"),),
        positions={},
        realised=0.0,
        unrealised=0.0,
        costs=0.0,
    ),
    "capital cap across symbols": Scenario(
        config=dataclasses.replace(CONFIG, max_capital=40_000),
        steps=(
            Price("09:29:59", A, 250.00),
            Price("09:29:59", B, 100.00),
            Price("09:29:59", C, 500.00),
            Sig("09:30", A, BUY, "a"),  # min(25,000, 40,000) / 250 = 100
            Sig("09:30", B, BUY, "b"),  # min(25,000, 40,000 - 25,000) / 100 = 150
            Sig("09:30", C, BUY, "c"),  # 40,000 - 40,000 leaves nothing
            Price("09:31", A, 250.00),  # 250 x 1.0002 = 250.05 exactly, a tick
            Price("09:31", B, 100.00),  # 100 x 1.0002 = 100.02 -> up to 100.05
        ),
        fills=(
            ("09:31", A, "BUY", 100, 250.05, 16.41),
            ("09:31", B, "BUY", 150, 100.05, 9.85),
        ),
        outcomes=(
            (
                "c",
                REJECTED,
                "no capital left: gross exposure 40000.00 of max 40000.00 leaves 0.00, "
                "below price 500.00",
            ),
            ("a", FILLED, None),
            ("b", FILLED, None),
        ),
        positions={A: (100, 250.05, 0.0), B: (150, 100.05, 0.0)},
        realised=0.0,
        unrealised=-12.50,  # 100 x (250 - 250.05) + 150 x (100 - 100.05)
        costs=26.26,
        risk=(("entry_no_capital", C),),
    ),
    "per-trade capital below price": Scenario(
        config=dataclasses.replace(CONFIG, per_trade_capital=200.0),
        steps=(Price("09:30", A, 250.00), Sig("09:30", A, BUY, "a")),
        fills=(),
        outcomes=(
            ("a", REJECTED, "no capital left: per-trade capital 200.00 is below price 250.00"),
        ),
        positions={},
        realised=0.0,
        unrealised=0.0,
        costs=0.0,
        risk=(("entry_no_capital", A),),
    ),
    "entry cutoff 15:00": Scenario(
        steps=(
            Price("14:44:59", A, 250.00),
            Sig("14:45", A, BUY, "a"),  # before the cutoff: taken
            Price("14:46", A, 250.00),
            Price("14:59:59", B, 100.00),
            Sig("15:00", B, BUY, "late"),  # at the cutoff: refused
            Sig("15:00", A, EXIT, "x"),  # an exit is never refused
            Price("15:01", A, 250.00),  # 250 x 0.9998 = 249.95
        ),
        fills=(
            ("14:46", A, "BUY", 100, 250.05, 16.41),
            ("15:01", A, "SELL", 100, 249.95, 21.90),
        ),
        outcomes=(
            ("a", FILLED, None),
            ("late", REJECTED, "after entry cutoff 15:00"),
            ("x", FILLED, None),
        ),
        positions={A: (0, None, -10.0)},  # 100 x (249.95 - 250.05)
        realised=-10.0,
        unrealised=0.0,
        costs=38.31,
        risk=(("entry_after_cutoff", B),),
    ),
    "reversal after cutoff exits only": Scenario(
        steps=(
            Price("14:44:59", A, 250.00),
            Sig("14:45", A, BUY, "a"),
            Price("14:46", A, 250.00),
            Price("15:04:59", A, 250.00),
            Sig("15:05", A, SELL, "r"),  # the exit goes, the short entry is refused
            Price("15:06", A, 250.00),
        ),
        fills=(
            ("14:46", A, "BUY", 100, 250.05, 16.41),
            ("15:06", A, "SELL", 100, 249.95, 21.90),
        ),
        outcomes=(("a", FILLED, None), ("r", FILLED, "exit only: after entry cutoff 15:00")),
        positions={A: (0, None, -10.0)},
        realised=-10.0,
        unrealised=0.0,
        costs=38.31,
        risk=(("entry_after_cutoff", A),),
    ),
    "square-off 15:15": Scenario(
        steps=(
            Price("13:59:59", A, 250.00),
            Sig("14:00", A, BUY, "a"),
            Price("14:01", A, 250.00),
            Clock("15:14"),  # not yet
            Clock("15:15"),  # flatten: SELL 100, filled at the next price
            Price("15:16", A, 251.00),  # 251 x 0.9998 = 250.9498 -> down to 250.90
            Clock("15:16"),  # nothing left to flatten, no second event
            Price("15:19:59", B, 100.00),
            Sig("15:20", B, BUY, "late"),
        ),
        fills=(
            ("14:01", A, "BUY", 100, 250.05, 16.41),
            ("15:16", A, "SELL", 100, 250.90, 22.00),
        ),
        outcomes=(("a", FILLED, None), ("late", REJECTED, "after square-off 15:15")),
        positions={A: (0, None, 85.0)},  # 100 x (250.90 - 250.05)
        realised=85.0,
        unrealised=0.0,
        costs=38.41,
        risk=(("square_off", A), ("entry_after_square_off", B)),
    ),
    "square-off as the live engine calls it": Scenario(
        # The engine shows a 1m bar's open and close, then calls on_time with the bar's time:
        # the flatten order is placed after the 15:15:59 close and fills on the 15:16 open.
        steps=(
            Price("13:59:59", A, 250.00),
            Sig("14:00", A, BUY, "a"),
            Price("14:00", A, 250.00),  # the 14:00 bar's open fills: 250.05
            Price("15:15", A, 250.00),
            Price("15:15:59", A, 250.50),
            Clock("15:15"),
            Price("15:16", A, 251.00),  # 250.9498 -> 250.90
        ),
        fills=(
            ("14:00", A, "BUY", 100, 250.05, 16.41),
            ("15:16", A, "SELL", 100, 250.90, 22.00),
        ),
        outcomes=(("a", FILLED, None),),
        positions={A: (0, None, 85.0)},
        realised=85.0,
        unrealised=0.0,
        costs=38.41,
        risk=(("square_off", A),),
    ),
    "daily loss kill": Scenario(
        config=dataclasses.replace(CONFIG, max_daily_loss=500),
        steps=(
            Price("09:29:59", A, 250.00),
            Sig("09:30", A, BUY, "a"),
            Price("09:31", A, 250.40),  # long 100 @ 250.50
            Price("09:44:59", B, 100.00),
            Sig("09:45", B, BUY, "b"),  # entry of 250 B, still open when the kill comes
            Price("10:00", A, 245.00),  # 100 x (245 - 250.50) - 16.44 = -566.44 <= -500: kill
            Price("10:01", A, 245.00),  # the flatten fills: 245 x 0.9998 = 244.951 -> 244.95
            Sig("10:15", A, BUY, "c"),  # blocked for the rest of the day
            Price("10:16", A, 240.00),  # lower still: no second kill
        ),
        fills=(
            ("09:31", A, "BUY", 100, 250.50, 16.44),
            ("10:01", A, "SELL", 100, 244.95, 21.46),
        ),
        outcomes=(
            ("a", FILLED, None),
            ("b", REJECTED, "entry cancelled: daily loss limit hit"),
            ("c", REJECTED, "daily loss limit hit"),
        ),
        positions={A: (0, None, -555.0)},  # 100 x (244.95 - 250.50)
        realised=-555.0,
        unrealised=0.0,
        costs=37.90,
        risk=(("daily_loss_kill", None), ("entry_while_killed", A)),
        killed=True,
    ),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario(name: str) -> None:
    case = SCENARIOS[name]
    ledger = FakeLedger()
    run = new_run(ledger, case.config).play(case.steps)
    broker = run.broker

    assert fill_rows(list(ledger.fills.values())) == list(case.fills)
    assert run.tagged() == list(case.outcomes)
    got = {p.symbol: (p.quantity, p.avg_price, p.realised_pnl) for p in broker.positions()}
    assert got == case.positions
    pnl = broker.day_pnl
    assert (pnl.realised, pnl.unrealised, pnl.costs) == pytest.approx(
        (case.realised, case.unrealised, case.costs), abs=1e-9
    )
    assert broker.equity_point() == (pnl.realised, pnl.unrealised, pnl.costs)
    assert pnl.total == pytest.approx(case.realised + case.unrealised - case.costs, abs=1e-9)
    assert [(e.kind, e.symbol) for e in ledger.events] == list(case.risk)
    assert broker.killed is case.killed is pnl.killed


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_ledger_matches_broker(name: str) -> None:
    case = SCENARIOS[name]
    ledger = FakeLedger()
    broker = new_run(ledger, case.config).play(case.steps).broker

    assert sorted(ledger.positions.values(), key=lambda p: p.symbol) == broker.positions()
    for fill in ledger.fills.values():
        order = ledger.orders[fill.order_id]
        assert order.status is OrderStatus.FILLED
        assert (order.symbol, order.side, order.quantity) == (fill.symbol, fill.side, fill.quantity)
        assert fill.ts >= order.ts
    open_ids = [o.order_id for o in ledger.orders.values() if o.status is OrderStatus.OPEN]
    assert open_ids == [o.order_id for o in broker.open_orders()]
    if ledger.fills:
        stored = ledger.pnl["2024-01-15"]
        assert (stored.realised, stored.costs, stored.killed) == (
            broker.day_pnl.realised,
            broker.day_pnl.costs,
            broker.killed,
        )
    # Every fill wrote its rows, each once.
    saves = [c for c in ledger.calls if c[0] == "save_fill"]
    assert len(saves) == len(set(saves)) == len(case.fills)


def test_orders_are_market_orders_at_the_signal_time() -> None:
    ledger = FakeLedger()
    run = new_run(ledger).play(SCENARIOS["reversal long to short"].steps)
    orders = list(ledger.orders.values())
    assert [(o.side.value, o.quantity, o.reason) for o in orders] == [
        ("BUY", 100, "entry"),
        ("SELL", 100, "exit"),
        ("SELL", 98, "entry"),
    ]
    assert all(o.order_type.value == "MARKET" and o.limit_price is None for o in orders)
    assert [o.ts for o in orders] == [at("09:30"), at("10:00"), at("10:00")]
    reversal = [o for o in orders if o.ts == at("10:00")]
    assert {o.signal_id for o in reversal} == {run.outcomes[-1].signal_id}


def test_capital_cap_holds_gross_exposure_at_max_capital() -> None:
    case = SCENARIOS["capital cap across symbols"]
    broker = new_run(FakeLedger(), case.config).play(case.steps).broker
    last = {A: 250.00, B: 100.00}
    exposure = sum(abs(p.quantity) * last[p.symbol] for p in broker.positions())
    assert exposure == case.config.max_capital == 40_000


def test_kill_cancels_entries_and_flattens_on_the_next_price() -> None:
    case = SCENARIOS["daily loss kill"]
    ledger = FakeLedger()
    run = new_run(ledger, case.config)
    run.play(case.steps[:6])  # up to and including the price that kills
    broker = run.broker
    assert broker.killed
    (flatten,) = broker.open_orders()
    assert (flatten.symbol, flatten.side.value, flatten.quantity) == (A, "SELL", 100)
    assert flatten.order_id.startswith("kill-") and flatten.signal_id is None
    cancelled = [o for o in ledger.orders.values() if o.status is OrderStatus.CANCELLED]
    assert [(o.symbol, o.reason) for o in cancelled] == [
        (B, "entry cancelled: daily loss limit hit")
    ]
    stored = ledger.pnl["2024-01-15"]
    assert stored.killed
    assert stored.kill_reason == "daily loss limit hit: day P&L -566.44 <= -500.00"
    run.play(case.steps[6:7])
    assert broker.open_orders() == []
    assert [p.quantity for p in broker.positions()] == [0]
