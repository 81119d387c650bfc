"""The broker over the real PaperStore (SQLite in tmp_path), through a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from broker_helpers import DAY, A, Price, Run, Sig, new_run
from test_broker_scenarios import SCENARIOS, Scenario

from pixity.broker import PaperBroker
from pixity.domain import SignalType
from pixity.stores import PaperReader, PaperStore, StorePaths

TABLES = ("orders", "fills", "positions", "daily_pnl", "risk_events")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return StorePaths(tmp_path).paper


@pytest.fixture
def store(path: Path) -> Iterator[PaperStore]:
    with PaperStore(path) as opened:
        yield opened


def counts(store: PaperStore) -> dict[str, int]:
    conn = store.connection
    return {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TABLES}


def stored(path: Path) -> dict[str, Any]:
    with PaperReader(path) as reader:
        return {
            "orders": reader.orders(),
            "fills": reader.fills(),
            "positions": reader.positions(),
            "pnl": reader.day_pnl(DAY.isoformat()),
            "events": reader.risk_events(),
        }


def restore(broker: PaperBroker, path: Path) -> None:
    """Restore ``broker`` from paper.db as the live session does on a restart."""
    with PaperReader(path) as reader:
        broker.restore(
            orders=reader.orders(),
            fills=reader.fills(),
            positions=reader.positions(),
            day_pnl=reader.day_pnl(DAY.isoformat()),
        )


def test_a_session_is_stored_as_the_broker_saw_it(store: PaperStore, path: Path) -> None:
    case = SCENARIOS["reversal long to short"]
    broker = new_run(store, case.config).play(case.steps).broker
    rows = stored(path)
    assert [(f.side.value, f.quantity, f.price, f.costs) for f in rows["fills"]] == [
        ("BUY", 100, 250.50, 16.44),
        ("SELL", 100, 255.00, 22.36),
        ("SELL", 98, 255.00, 21.90),
    ]
    assert rows["positions"] == broker.positions()
    assert {o.status.value for o in rows["orders"]} == {"FILLED"}
    assert (rows["pnl"].realised, rows["pnl"].costs) == (450.0, 60.70)


def test_kill_survives_a_restart_and_replay_adds_no_rows(path: Path) -> None:
    case = SCENARIOS["daily loss kill"]
    with PaperStore(path) as first_store:
        first = new_run(first_store, case.config).play(case.steps).broker
        before = counts(first_store)
    assert before == {"orders": 3, "fills": 2, "positions": 1, "daily_pnl": 1, "risk_events": 2}
    rows = stored(path)
    assert rows["pnl"].killed and rows["pnl"].kill_reason.startswith("daily loss limit hit")

    with PaperStore(path) as store:  # the restarted live session
        run = new_run(store, case.config)
        restore(run.broker, path)
        assert run.broker.killed
        assert run.broker.positions() == first.positions()
        assert run.broker.day_pnl == first.day_pnl
        assert run.broker.open_orders() == []

        run.play(case.steps)  # the engine replays the day's bars and signals
        assert counts(store) == before
        after = stored(path)
        assert {k: v for k, v in after.items() if k != "pnl"} == {
            k: v for k, v in rows.items() if k != "pnl"
        }
        assert after["pnl"] == first.day_pnl  # replayed prices do not revive a killed day

        run.play([Price("11:00", A, 240.0), Sig("11:00", A, SignalType.BUY, "new")])
        assert run.tagged()[-1] == ("new", "REJECTED", "daily loss limit hit")
        assert counts(store) == {**before, "risk_events": 3}
        assert stored(path)["events"][-1].kind == "entry_while_killed"


def _run_with_restart(path: Path, case: Scenario, k: int) -> Run:
    with PaperStore(path) as store:
        new_run(store, case.config).play(case.steps[:k])
    with PaperStore(path) as store:
        run = new_run(store, case.config)
        restore(run.broker, path)
        return run.play(case.steps)


@pytest.mark.parametrize(
    ("name", "k"),
    [
        (name, k)
        for name in ("reversal long to short", "daily loss kill", "square-off 15:15")
        for k in range(1, len(SCENARIOS[name].steps))
    ],
)
def test_restart_mid_session_on_paper_db_matches_a_straight_run(
    tmp_path: Path, name: str, k: int
) -> None:
    case = SCENARIOS[name]
    straight_path = tmp_path / "straight" / "paper.db"
    straight_path.parent.mkdir()
    with PaperStore(straight_path) as store:
        whole = new_run(store, case.config).play(case.steps).broker
    restarted_path = tmp_path / "restarted" / "paper.db"
    restarted_path.parent.mkdir()
    run = _run_with_restart(restarted_path, case, k)

    expected, got = stored(straight_path), stored(restarted_path)
    for table in ("orders", "fills", "positions", "events"):
        assert got[table] == expected[table], table
    assert (got["pnl"].realised, got["pnl"].costs, got["pnl"].killed) == (
        expected["pnl"].realised,
        expected["pnl"].costs,
        expected["pnl"].killed,
    )
    assert run.broker.day_pnl == whole.day_pnl
    assert run.broker.positions() == whole.positions()
