"""Restart the same day: restore from the ledger, replay the day, and nothing changes."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from broker_helpers import DAY, STRATEGY, A, FakeLedger, Price, Sig, at, new_run
from test_broker_scenarios import SCENARIOS

from pixity.domain import DayPnl, OrderStatus, Position, SignalType

SPLITS = [(name, k) for name, case in SCENARIOS.items() for k in range(1, len(case.steps) + 1)]


@pytest.mark.parametrize(("name", "k"), SPLITS)
def test_restart_after_any_step_then_replay_changes_nothing(name: str, k: int) -> None:
    """Crash after step k; a new broker restores, the engine replays the whole day."""
    case = SCENARIOS[name]
    straight = FakeLedger()
    whole = new_run(straight, case.config).play(case.steps)

    ledger = FakeLedger()
    before = new_run(ledger, case.config).play(case.steps[:k])
    after = new_run(ledger, case.config)
    ledger.restore_into(after.broker)
    after.play(case.steps)

    assert ledger.orders == straight.orders
    assert ledger.fills == straight.fills
    assert ledger.positions == straight.positions
    assert ledger.events == straight.events
    assert after.broker.positions() == whole.broker.positions()
    assert after.broker.day_pnl == whole.broker.day_pnl
    assert after.broker.open_orders() == whole.broker.open_orders()
    # Each signal ends the same way; one replayed after its last order may be told again.
    given = {*before.tagged(), *after.tagged()}
    assert given == set(whole.tagged())
    filled = [t for t in before.tagged() + after.tagged() if t[1] == "FILLED"]
    assert len(filled) == len(set(filled))


def test_kill_state_survives_restore() -> None:
    case = SCENARIOS["daily loss kill"]
    ledger = FakeLedger()
    first = new_run(ledger, case.config).play(case.steps)
    second = new_run(ledger, case.config)
    ledger.restore_into(second.broker)

    assert second.broker.killed
    assert second.broker.day_pnl == first.broker.day_pnl
    assert second.broker.positions() == first.broker.positions()
    second.play([Price("11:00", A, 230.0), Sig("11:00", A, SignalType.SELL, "late")])
    assert second.tagged() == [("late", "REJECTED", "daily loss limit hit")]
    assert second.broker.open_orders() == []
    assert [e.kind for e in ledger.events][-1] == "entry_while_killed"
    assert [e.kind for e in ledger.events].count("daily_loss_kill") == 1


def test_restore_finishes_a_kill_a_crash_cut_short() -> None:
    """Killed stored, but the crash came before the flatten order: the next price places it."""
    case = SCENARIOS["daily loss kill"]
    ledger = FakeLedger()
    new_run(ledger, case.config).play(case.steps[:3])  # long 100 A
    stored = ledger.pnl[DAY.isoformat()]
    ledger.pnl[DAY.isoformat()] = dataclasses.replace(stored, killed=True, kill_reason="test")
    run = new_run(ledger, case.config)
    ledger.restore_into(run.broker)
    assert run.broker.killed and run.broker.open_orders() == []
    run.play([Price("10:00", A, 251.0)])
    (flatten,) = run.broker.open_orders()
    assert (flatten.side.value, flatten.quantity, flatten.reason) == (
        "SELL",
        100,
        "daily loss kill",
    )
    run.play([Price("10:00", A, 251.0), Price("10:01", A, 251.0)])
    assert [p.quantity for p in run.broker.positions()] == [0]


def test_restore_repairs_rows_a_crash_left_behind() -> None:
    """The fill was stored, but not the order's new status, the position or the P&L."""
    case = SCENARIOS["long round trip"]
    ledger = FakeLedger()
    run = new_run(ledger, case.config).play(case.steps[:3])
    (order,) = ledger.orders.values()
    ledger.orders[order.order_id] = dataclasses.replace(order, status=OrderStatus.OPEN)
    ledger.positions.clear()
    ledger.pnl.clear()
    ledger.calls.clear()

    again = new_run(ledger, case.config)
    ledger.restore_into(again.broker)
    assert ledger.orders[order.order_id].status is OrderStatus.FILLED
    assert list(ledger.positions.values()) == run.broker.positions()
    assert ledger.pnl[DAY.isoformat()].costs == 16.44
    assert [c[0] for c in ledger.calls] == ["update_order", "upsert_position", "upsert_day_pnl"]
    assert again.broker.open_orders() == []


@pytest.mark.parametrize("name", ["long round trip", "daily loss kill"])
def test_settled_signals_after_a_restore_are_the_outcomes_given_before_it(name: str) -> None:
    """What a restarted session checks its signals' records against (not told again)."""
    case = SCENARIOS[name]
    ledger = FakeLedger()
    first = new_run(ledger, case.config).play(case.steps)
    again = new_run(ledger, case.config)
    ledger.restore_into(again.broker)
    by_orders = {o.signal_id for o in ledger.orders.values() if o.signal_id is not None}
    told = [o for o in first.outcomes if o.signal_id in by_orders]
    assert told and sorted(again.broker.settled_signals(), key=lambda o: o.signal_id) == sorted(
        told, key=lambda o: o.signal_id
    )
    assert again.outcomes == []


def test_restore_ignores_other_days() -> None:
    case = SCENARIOS["long round trip"]
    ledger = FakeLedger()
    new_run(ledger, case.config).play(case.steps[:3])  # long 100 A today
    yesterday = FakeLedger()
    moved = [dataclasses.replace(o, ts=o.ts - timedelta(days=1)) for o in ledger.orders.values()]
    fills = [dataclasses.replace(f, ts=f.ts - timedelta(days=1)) for f in ledger.fills.values()]
    stale = Position(
        strategy_id=STRATEGY,
        symbol=A,
        quantity=100,
        avg_price=250.5,
        realised_pnl=0.0,
        ts=at("09:31") - timedelta(days=1),
    )
    run = new_run(yesterday, case.config)
    run.broker.restore(orders=moved, fills=fills, positions=[stale], day_pnl=None)
    assert run.broker.positions() == [] and run.broker.open_orders() == []
    assert yesterday.calls == []


def test_restore_refuses_another_days_pnl() -> None:
    pnl = DayPnl(
        session_date="2024-01-12",
        realised=0,
        unrealised=0,
        costs=0,
        killed=True,
        kill_reason="daily loss limit hit",
    )
    with pytest.raises(ValueError, match="stored P&L of 2024-01-12"):
        new_run(FakeLedger()).broker.restore(orders=[], fills=[], positions=[], day_pnl=pnl)
