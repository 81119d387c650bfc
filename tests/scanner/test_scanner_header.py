"""The header: session day, market phase, the day's P&L against the limit, kill state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scanner_support import (
    DAY,
    clock,
    write_all,
    write_config,
    write_market,
    write_paper,
)

from pixity.markettime import ist
from pixity.scanner import ScannerView, header
from pixity.stores import StorePaths


@pytest.mark.parametrize(
    ("when", "phase"),
    [
        (ist(2025, 6, 2, 9, 5), "pre-open"),
        (ist(2025, 6, 2, 10, 0), "open"),
        (ist(2025, 6, 2, 15, 45), "closed"),
        (ist(2025, 5, 31, 11, 0), "closed"),  # a Saturday
    ],
)
def test_market_phase_comes_from_the_injected_clock(tmp_path: Path, when: object, phase: str) -> None:  # fmt: skip
    values = header(tmp_path, clock=clock(when)).values
    assert values["market_phase"] == phase


def test_header_of_a_running_day(tmp_path: Path) -> None:
    write_all(tmp_path)
    result = header(tmp_path, clock=clock())
    assert result.errors == {}
    v = result.values
    assert (v["session_date"], v["session_date_source"]) == ("2025-06-02", "ingest")
    assert v["as_of"] == "2025-06-02T10:00:00+05:30"
    # realised 5.0 + unrealised -12.0 - costs 3.0
    assert (v["day_pnl"], v["day_pnl_realised"], v["day_pnl_unrealised"], v["day_costs"]) == (
        -10.0, 5.0, -12.0, 3.0,
    )  # fmt: skip
    assert (v["killed"], v["kill_reason"]) == (False, None)
    assert (v["max_daily_loss"], v["loss_limit_used_pct"]) == (None, None)
    assert (v["runners"], v["runners_attention"]) == (4, 2)
    assert v["last_runner_update"].endswith("+00:00")


def test_kill_state_is_shown(tmp_path: Path) -> None:
    paths = StorePaths(tmp_path)
    write_market(paths)
    write_paper(paths, killed=True)
    v = header(tmp_path, clock=clock()).values
    assert (v["killed"], v["kill_reason"]) == (True, "daily loss limit hit")


def test_pnl_against_a_given_max_daily_loss(tmp_path: Path) -> None:
    write_all(tmp_path)
    with ScannerView(tmp_path, clock=clock(), max_daily_loss=5000.0) as view:
        v = view.header().values
    assert (v["max_daily_loss"], v["loss_limit_used_pct"]) == (5000.0, 0.2)  # 10 of 5000


def write_run(data: Path, name: str, parameters: dict[str, object]) -> Path:
    """Write an executed-notebook stub as papermill leaves it in data/runs/<day>/."""
    path = StorePaths(data).runs / DAY.isoformat() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    notebook = {"cells": [], "metadata": {"papermill": {"parameters": parameters}}}
    path.write_text(json.dumps(notebook))
    return path


def test_max_daily_loss_is_read_from_the_days_run_notebook(tmp_path: Path) -> None:
    write_all(tmp_path)
    write_run(tmp_path, "live_session-a.ipynb", {"max_daily_loss": 2500})
    with ScannerView(tmp_path, clock=clock()) as view:
        assert view.header().values["max_daily_loss"] == 2500.0
        assert view.header().values["loss_limit_used_pct"] == 0.4
        path = write_run(tmp_path, "live_session-a.ipynb", {"max_daily_loss": 4000.0})
        path.touch()
        assert view.header().values["max_daily_loss"] == 4000.0
        path.write_text("{ half written")  # papermill saving: unknown, not an error
        result = view.header()
    assert result.values["max_daily_loss"] is None and result.errors == {}


def test_without_the_ingest_the_day_comes_from_the_clock(tmp_path: Path) -> None:
    write_config(StorePaths(tmp_path))
    saturday = header(tmp_path, clock=clock(ist(2025, 5, 31, 11, 0))).values
    assert (saturday["session_date"], saturday["session_date_source"]) == ("2025-05-30", "clock")
    monday = header(tmp_path, clock=clock(ist(2025, 6, 2, 8, 30))).values
    assert monday["session_date"] == "2025-06-02"


def test_a_rolled_over_day_gives_way_to_the_clock_with_a_note(tmp_path: Path) -> None:
    paths = StorePaths(tmp_path)
    write_market(paths, rolled=True)
    write_config(paths)
    result = header(tmp_path, clock=clock(ist(2025, 6, 3, 9, 10)))
    assert (result.values["session_date"], result.values["session_date_source"]) == (
        "2025-06-03", "clock",
    )  # fmt: skip
    assert any("2025-06-02 has been rolled over" in note for note in result.notes)


def test_a_date_outside_the_calendar_is_an_error_not_an_exception(tmp_path: Path) -> None:
    result = header(tmp_path, clock=clock(ist(2099, 1, 5, 10, 0)))
    assert result.values["market_phase"] is None
    assert "calendar" in result.errors["calendar"]
    assert result.values["session_date"] == "2099-01-05"


def test_a_new_pnl_written_between_refreshes_shows_on_the_next_one(tmp_path: Path) -> None:
    paths = write_all(tmp_path)
    with ScannerView(tmp_path, clock=clock()) as view:
        assert view.header().values["killed"] is False
        write_paper(paths, killed=True)
        v = view.header().values
    assert (v["killed"], v["day_pnl"]) == (True, -10.0)
