"""Inputs the broker refuses, and the ones it takes without fuss."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from broker_helpers import (
    CONFIG,
    DAY,
    A,
    B,
    FakeLedger,
    Price,
    Sig,
    Step,
    at,
    new_run,
    signal_of,
)

from pixity.broker import PaperBroker, SignalOutcome
from pixity.domain import SignalStatus, SignalType
from pixity.errors import DataIntegrityError, InvalidValueError

ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")  # the domain's id pattern
NAIVE = datetime(2024, 1, 15, 10, 0)  # noqa: DTZ001 - naive on purpose


def test_naive_times_are_refused() -> None:
    broker = new_run(FakeLedger()).broker
    with pytest.raises(InvalidValueError, match="price time of .* is naive"):
        broker.on_price(A, 250.0, NAIVE)
    with pytest.raises(InvalidValueError, match="market time .* is naive"):
        broker.on_time(NAIVE)
    with pytest.raises(InvalidValueError, match="signal time .* is naive"):
        broker.submit(signal_of(Sig("10:00", A, SignalType.BUY, "b")), NAIVE)


@pytest.mark.parametrize(
    ("price", "message"),
    [
        (float("nan"), "price of NSE_EQ.INE155A01022 nan must be finite and > 0"),
        (float("inf"), "inf must be finite and > 0"),
        (0.0, "0.0 must be finite and > 0"),
        (-250.0, "-250.0 must be finite and > 0"),
        ("250", "must be a number, got str"),
        (True, "must be a number, got bool"),
    ],
)
def test_bad_prices_are_refused(price: float, message: str) -> None:
    ledger = FakeLedger()
    broker = new_run(ledger).broker
    with pytest.raises(InvalidValueError, match=message):
        broker.on_price(A, price, at("10:00"))
    assert ledger.calls == []


def test_a_bad_symbol_is_refused() -> None:
    with pytest.raises(InvalidValueError, match="instrument key 'RELIANCE'"):
        new_run(FakeLedger()).broker.on_price("RELIANCE", 2500.0, at("10:00"))


def test_a_price_for_an_unknown_symbol_is_remembered() -> None:
    ledger = FakeLedger()
    run = new_run(ledger).play([Price("09:30", B, 100.0)])
    assert ledger.calls == [] and run.broker.open_orders() == []
    run.play([Sig("09:30", B, SignalType.BUY, "b")])
    (order,) = run.broker.open_orders()
    assert order.quantity == 250  # sized on the remembered 100.0


def test_a_signal_on_another_day_is_refused() -> None:
    broker = new_run(FakeLedger()).broker
    with pytest.raises(InvalidValueError, match="is not on session day 2024-01-15"):
        broker.submit(
            signal_of(Sig("10:00", A, SignalType.BUY, "b")), at("10:00") + timedelta(days=1)
        )


@pytest.mark.parametrize(
    ("steps", "fills"),
    [
        ([Price("09:30", A, 250.0), Sig("09:30", A, SignalType.BUY, "b")], 1),  # placed
        ([Sig("09:30", A, SignalType.EXIT, "x")], 0),  # rejected
    ],
)
def test_a_signal_submitted_twice_counts_once(steps: list[Step], fills: int) -> None:
    ledger = FakeLedger()
    run = new_run(ledger).play(steps)
    calls, outcomes = list(ledger.calls), list(run.outcomes)
    run.play([steps[-1]])
    assert ledger.calls == calls
    assert run.outcomes == outcomes
    run.play([Price("09:31", A, 250.0), Price("09:32", A, 250.0)])
    assert len(run.outcomes) == 1  # one outcome, whether placed or rejected
    assert len(ledger.fills) == fills


def test_ids_are_valid_and_deterministic() -> None:
    steps: list[Step] = [
        Price("09:30", A, 250.0),
        Sig("09:30", A, SignalType.BUY, "b"),
        Price("09:31", A, 250.0),
        Price("10:00", A, 251.0),
        Sig("10:00", A, SignalType.SELL, "r"),
        Price("10:01", A, 251.0),
    ]
    first, second = FakeLedger(), FakeLedger()
    new_run(first).play(steps)
    new_run(second).play(steps)
    assert list(first.orders) == list(second.orders)
    assert list(first.fills) == list(second.fills)
    assert len(first.orders) == 3 and len(set(first.orders)) == 3
    for order_id in [*first.orders, *first.fills]:
        assert ID_RE.match(order_id), order_id
    for fill in first.fills.values():
        assert fill.fill_id == f"fill-{fill.order_id}"


def test_square_off_order_ids_are_valid() -> None:
    ledger = FakeLedger()
    run = new_run(ledger).play(
        [Price("14:00", A, 250.0), Sig("14:00", A, SignalType.BUY, "b"), Price("14:01", A, 250.0)]
    )
    run.broker.on_time(at("15:15"))
    (order,) = run.broker.open_orders()
    assert order.order_id.startswith("sqoff-") and ID_RE.match(order.order_id)
    assert order.reason == "square-off 15:15"


def test_sub_second_times_are_stored_as_whole_seconds() -> None:
    ledger = FakeLedger()
    run = new_run(ledger)
    run.broker.on_price(A, 250.0, at("09:30") + timedelta(milliseconds=250))
    run.broker.submit(
        signal_of(Sig("09:30", A, SignalType.BUY, "b")), at("09:30") + timedelta(microseconds=7)
    )
    run.broker.on_price(A, 250.0, at("09:30") + timedelta(milliseconds=900))
    (fill,) = ledger.fills.values()
    assert fill.ts == at("09:30") and fill.ts.microsecond == 0


def test_restore_after_the_session_started_is_refused() -> None:
    run = new_run(FakeLedger()).play([Price("09:30", A, 250.0)])
    with pytest.raises(DataIntegrityError, match="before the first signal or price"):
        run.broker.restore(orders=[], fills=[], positions=[], day_pnl=None)


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        (SignalStatus.REJECTED, None, "needs a reason"),
        (SignalStatus.PENDING, None, "must be FILLED or REJECTED"),
    ],
)
def test_signal_outcome_checks_itself(
    status: SignalStatus, reason: str | None, message: str
) -> None:
    with pytest.raises(InvalidValueError, match=message):
        SignalOutcome(signal_id="sig-1", status=status, reason=reason)


def test_entry_cutoff_and_square_off_are_configurable() -> None:
    config = CONFIG.from_mapping(
        {
            "max_capital": 100_000,
            "max_daily_loss": 5_000,
            "entry_cutoff": "13:00",
            "square_off": "13:30",
        }
    )
    ledger = FakeLedger()
    outcomes: list[SignalOutcome] = []
    broker = PaperBroker(config, ledger, session_date=DAY, on_outcome=outcomes.append)
    broker.on_price(A, 250.0, at("12:45"))
    broker.submit(signal_of(Sig("12:45", A, SignalType.BUY, "b")), at("12:45"))
    broker.submit(signal_of(Sig("13:00", B, SignalType.BUY, "late")), at("13:00"))
    broker.on_price(A, 250.0, at("12:46"))
    broker.on_time(at("13:29"))
    assert [o.side.value for o in broker.open_orders()] == []
    broker.on_time(at("13:30"))
    assert [(o.side.value, o.quantity) for o in broker.open_orders()] == [("SELL", 100)]
    assert [o.reason for o in outcomes] == ["after entry cutoff 13:00", None]
    assert [e.kind for e in ledger.events] == ["entry_after_cutoff", "square_off"]
