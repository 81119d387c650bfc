"""The dashboard's HTML and widgets, without a browser: what the page shows, and that it never raises."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from scanner_support import STRATEGY, SYM, SYM2, clock, write_all

from pixity.scanner import render
from pixity.scanner.dashboard import Dashboard


def dashboard(data_dir: Path) -> Dashboard:
    return Dashboard(data_dir, health_port=9, clock=clock())


def test_refresh_fills_the_table_header_and_row_choices(tmp_path: Path) -> None:
    write_all(tmp_path)
    board = dashboard(tmp_path)
    board.refresh_now()
    assert board.counters.failures == 0 and board.counters.refreshes == 1
    assert (
        f'data-symbol="{SYM}"' in board.table.value and f'data-symbol="{SYM2}"' in board.table.value
    )
    assert "2025-06-02" in board.header.value
    assert f"{SYM} · {STRATEGY}" in board.row.options
    assert board.drawer.layout.display == "none"
    board.row.value = f"{SYM} · {STRATEGY}"  # choosing a row opens its drawer at once
    assert board.drawer.layout.display == "flex"
    assert 'id="pixity-drawer-signals"' in board.signals.value
    assert "+0530" in board.signals.value  # bar_ts with its offset
    assert "<rect" in board.chart.value
    board.stop()


def test_nothing_started_yet_says_what_to_start(tmp_path: Path) -> None:
    board = dashboard(tmp_path)
    board.refresh_now()
    assert board.counters.failures == 0
    assert "pixity" in board.notes.value and "start" in board.notes.value
    assert "no runners yet" in board.table.value


def test_a_failing_refresh_is_shown_and_counted_not_raised(tmp_path: Path) -> None:
    write_all(tmp_path)
    board = dashboard(tmp_path)

    def broken() -> None:
        raise RuntimeError("disk on fire")

    board.view.refresh = broken  # type: ignore[method-assign]
    board.refresh_now()
    board.refresh_now()
    assert board.counters.failures == 2
    assert "disk on fire" in board.notes.value and "Traceback" not in board.notes.value


def test_sorting_follows_the_controls(tmp_path: Path) -> None:
    write_all(tmp_path)
    board = dashboard(tmp_path)
    board.sort_by.value = "symbol"
    board.descending.value = True
    order = [line for line in board.table.value.split("<tr ") if "data-symbol" in line]
    symbols = [part.split('data-symbol="')[1].split('"')[0] for part in order]
    assert symbols == sorted(symbols, reverse=True)


def test_html_is_escaped_and_attention_rows_stand_out() -> None:
    frame = pd.DataFrame(
        [{"symbol": "NSE_EQ|<b>X</b>", "strategy_id": "s", "status": "STALE", "attention": True,
          "last_error": "no bar since 10:00 <script>"}]
    )  # fmt: skip
    table = render.overview_table(frame)
    assert "<b>X</b>" not in table and "&lt;b&gt;" in table
    assert "<script>" not in table and "background:#fde2e1" in table


@pytest.mark.parametrize(("status", "red"), [("ok", False), ("degraded", True), ("down", True)])
def test_health_panel_and_light_turn_red_when_not_ok(status: str, red: bool) -> None:
    report = {"status": status, "reasons": ["ingest unreachable"], "ticks_rejected": {"late": 2},
              "ingest_error": "connection refused"}  # fmt: skip
    panel = render.health_panel(report)
    assert (("#fce8e6" in panel) is red) and "late=2" in panel and "connection refused" in panel
    for key in render.HEALTH_KEYS:
        assert f"pixity-h-{key}" in panel
    assert f"pixity-light-{status}" in render.light(status)


def test_candles_chart_marks_each_signal_on_its_bar() -> None:
    ts = pd.date_range("2025-06-02 09:15", periods=3, freq="15min", tz="Asia/Kolkata")
    candles = pd.DataFrame({"bar_ts": ts, "open": [100, 101, 102.0], "high": [102, 103, 104.0],
                            "low": [99, 100, 101.0], "close": [101, 102, 101.5]})  # fmt: skip
    marks = pd.DataFrame({"bar_ts": [ts[1], ts[2]], "signal_type": ["BUY", "EXIT"],
                          "confidence": [0.7, 1.0], "status": ["FILLED", "PENDING"]})  # fmt: skip
    svg = render.candles_svg(candles, marks)
    assert svg.count("<rect") == 3
    assert svg.count('class="pixity-mark"') == 2 and "BUY 09:30 conf 0.70" in svg
    assert "no 15m candles" in render.candles_svg(candles.iloc[0:0], marks.iloc[0:0])
