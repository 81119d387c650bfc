"""The scanner's widgets and their refresh loop, for ``notebooks/scanner.ipynb`` under Voilà.

Values are assigned to widgets from an asyncio task on the kernel's event loop: that is what
reaches a Voilà page after the notebook has finished executing (output printed into an Output
widget then would not). The loop is the one I/O boundary here: whatever a refresh raises is
shown in the page's notes and counted, and the next refresh goes on; it never prints a
traceback into the page. The health report (which waits up to its timeout on the ingest's
``/health``) runs in a worker thread, so it never holds up the table.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd

from pixity.clock import Clock, WallClock
from pixity.health import build_report
from pixity.scanner import render
from pixity.scanner.view import ScannerView

log = logging.getLogger(__name__)

DATA_DIR_ENV = "PIXITY_DATA_DIR"
HEALTH_PORT_ENV = "PIXITY_HEALTH_PORT"
_NO_ROW = "(select a row)"
SIGNAL_COLUMNS = ("bar_ts", "signal_type", "confidence", "status", "status_reason")
FILL_COLUMNS = ("ts", "side", "quantity", "price", "costs", "strategy_id")


@dataclass(slots=True)
class Counters:
    """What the loop did, shown at the foot of the page."""

    refreshes: int = 0
    failures: int = 0
    last_error: str | None = None
    health: dict[str, Any] | None = field(default=None)


class Dashboard:
    """Lay out the scanner and keep it current every ``refresh_s`` seconds."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        refresh_s: float = 1.0,
        health_port: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.data_dir = Path(data_dir or os.environ.get(DATA_DIR_ENV) or "data")
        self.health_port = int(health_port or os.environ.get(HEALTH_PORT_ENV) or 8766)
        self.refresh_s = refresh_s
        self.clock = clock or WallClock()
        self.view = ScannerView(self.data_dir, clock=self.clock)
        self.counters = Counters()
        self._task: asyncio.Task[None] | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._build()

    def _build(self) -> None:
        self.header = widgets.HTML(render.header_html({}, None))
        self.notes = widgets.HTML(render.notes_html(["reading the stores…"], {}))
        columns = [c for c, _ in render.OVERVIEW_COLUMNS]
        self.sort_by = widgets.Dropdown(options=columns, value="symbol", description="sort by")
        self.descending = widgets.Checkbox(value=False, description="descending")
        self.row = widgets.Dropdown(options=[_NO_ROW], value=_NO_ROW, description="row")
        self.row.add_class("pixity-row-select")
        self.table = widgets.HTML(render.overview_table(pd.DataFrame()))
        self.drawer_title = widgets.HTML("")
        self.chart = widgets.HTML("")
        self.signals = widgets.HTML("")
        self.fills = widgets.HTML("")
        self.drawer = widgets.VBox([self.drawer_title, self.chart, self.signals, self.fills])
        self.drawer.layout.display = "none"
        self.health = widgets.HTML(render.health_panel(None))
        self.footer = widgets.HTML("")
        for control in (self.sort_by, self.descending, self.row):
            control.observe(lambda _change: self.refresh_now(), names="value")
        controls = widgets.HBox([self.sort_by, self.descending, self.row])
        self.root = widgets.VBox(
            [self.header, self.notes, controls, self.table, self.drawer, self.health, self.footer]
        )

    # ------------------------------------------------------------ the loop

    def start(self) -> widgets.VBox:
        """Start the refresh loops on the running event loop and return the widget tree."""
        loop = asyncio.get_event_loop()
        self._task = loop.create_task(self._run(self.refresh_s, self.refresh_now))
        self._health_task = loop.create_task(self._run(2.0, self._refresh_health_soon))
        return self.root

    async def _run(self, every_s: float, step: Any) -> None:
        while True:
            result = step()
            if asyncio.iscoroutine(result):
                await result
            await asyncio.sleep(every_s)

    def refresh_now(self) -> None:
        """Read the stores once and assign every widget; failures are shown, not raised."""
        try:
            self._refresh()
            self.counters.refreshes += 1
        except Exception as exc:  # the dashboard's one boundary: show it, count it, go on
            self.counters.failures += 1
            self.counters.last_error = f"{type(exc).__name__}: {exc}"
            log.error("scanner refresh failed", exc_info=True)
            self.notes.value = render.notes_html([], {"refresh": self.counters.last_error})
        self.footer.value = (
            f"<small id='pixity-footer'>refreshes {self.counters.refreshes} · failed "
            f"{self.counters.failures} · data {render.esc(str(self.data_dir))}</small>"
        )

    def _refresh(self) -> None:
        snap = self.view.refresh()
        frame = snap["overview"]
        if not frame.empty and self.sort_by.value in frame.columns:
            frame = frame.sort_values(
                self.sort_by.value, ascending=not self.descending.value, kind="stable"
            )
        status = None if self.counters.health is None else self.counters.health.get("status")
        self.header.value = render.header_html(snap.values, status)
        self.notes.value = render.notes_html(snap.notes, snap.errors)
        self.table.value = render.overview_table(frame)
        options = [_NO_ROW] + [f"{s} · {k}" for s, k in zip(frame["symbol"], frame["strategy_id"], strict=True)]  # fmt: skip
        if list(self.row.options) != options:
            keep = self.row.value if self.row.value in options else _NO_ROW
            self.row.options = options
            self.row.value = keep
        self._refresh_drawer()

    def _refresh_drawer(self) -> None:
        if self.row.value == _NO_ROW:
            self.drawer.layout.display = "none"
            return
        symbol, strategy_id = str(self.row.value).split(" · ")
        result = self.view.drawer(symbol, strategy_id)
        self.drawer_title.value = (
            f"<h4 id='pixity-drawer-title'>{render.esc(symbol)} · {render.esc(strategy_id)}</h4>"
        )
        self.chart.value = render.candles_svg(result["candles"], result["marks"])
        self.signals.value = "<b>recent signals</b>" + render.frame_table(
            result["signals"], "pixity-drawer-signals", SIGNAL_COLUMNS
        )
        self.fills.value = "<b>fills</b>" + render.frame_table(
            result["fills"], "pixity-drawer-fills", FILL_COLUMNS
        )
        self.drawer.layout.display = "flex"

    async def _refresh_health_soon(self) -> None:
        try:
            report = await asyncio.to_thread(
                build_report, self.data_dir, health_port=self.health_port, clock=self.clock
            )
        except Exception as exc:  # shown in the panel, never raised into the page
            log.error("health report failed", exc_info=True)
            self.health.value = render.health_panel(None, f"health unreadable: {exc}")
            self.counters.health = None
            return
        self.counters.health = report
        self.health.value = render.health_panel(report)

    def stop(self) -> None:
        """Stop the loops and close the readers."""
        for task in (self._task, self._health_task):
            if task is not None:
                task.cancel()
        self.view.close()
