"""HTML for the dashboard: the overview table, the drawer's tables and chart, the health panel.

Pure functions from the view model's frames and values to HTML strings (the widgets only hold
them), so what the page shows is tested without a browser. Every value is escaped. Element
ids and classes (``pixity-*``) are stable: the browser test finds things by them.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

_BIAS_COLOUR = {"BUY": "#0a7d32", "SELL": "#b3261e", "NEUTRAL": "#555"}
_STATUS_COLOUR = {
    "RUNNING": "#0a7d32",
    "STARTING": "#8a6d00",
    "STALE": "#b3261e",
    "ERROR": "#b3261e",
    "STOPPED": "#555",
}
_LIGHT = {"ok": "#1e9e4a", "degraded": "#d93025", "down": "#d93025"}

OVERVIEW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("symbol", "symbol"),
    ("strategy_id", "strategy"),
    ("status", "status"),
    ("timeframe", "tf"),
    ("last_bar_ts", "last bar"),
    ("last_price", "last"),
    ("change_pct", "chg %"),
    ("current_bias", "bias"),
    ("signal_state", "state"),
    ("last_signal", "last signal"),
    ("last_signal_confidence", "conf"),
    ("last_signal_bar_ts", "signal bar"),
    ("position", "pos"),
    ("pnl", "P&L"),
)
HEALTH_KEYS = (
    "status", "runner_state_count", "signals_count", "live_buffer_accessible",
    "last_runner_update", "feed_connected", "last_tick_age_s", "ticks_per_s", "ticks_rejected",
    "flush_failures", "last_flush_ms", "buffer_depth",
)  # fmt: skip


def esc(value: object) -> str:
    """Return ``value`` as escaped text; missing values as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "–"
    if isinstance(value, pd.Timestamp):
        return html.escape(value.strftime("%H:%M") if value.tzinfo else str(value))
    if isinstance(value, float):
        return f"{value:,.2f}"
    return html.escape(str(value))


def _cell(column: str, value: object) -> str:
    text = esc(value)
    style = ""
    if column == "current_bias":
        style = f"color:{_BIAS_COLOUR.get(str(value), '#000')};font-weight:600"
    elif column == "status":
        style = f"color:{_STATUS_COLOUR.get(str(value), '#000')};font-weight:600"
    elif column == "signal_state" and value == "TRIGGERED":
        style = "font-weight:700"
    elif column in ("change_pct", "pnl") and isinstance(value, int | float) and value == value:
        style = f"color:{'#0a7d32' if value >= 0 else '#b3261e'}"
    if column in ("last_price", "change_pct", "last_signal_confidence", "position", "pnl"):
        style += ";text-align:right"
    if column == "last_signal_bar_ts" and isinstance(value, pd.Timestamp):
        text = html.escape(value.strftime("%Y-%m-%d %H:%M:%S%z"))
    return f'<td class="pixity-{column}" style="{style}">{text}</td>'


def overview_table(frame: pd.DataFrame) -> str:
    """Return the overview as a table; STALE and ERROR rows stand out."""
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in OVERVIEW_COLUMNS)
    rows = []
    for record in frame.to_dict("records"):
        attention = bool(record.get("attention"))
        style = ' style="background:#fde2e1"' if attention else ""
        title = f' title="{html.escape(str(record.get("last_error") or ""))}"' if attention else ""
        cells = "".join(_cell(c, record.get(c)) for c, _ in OVERVIEW_COLUMNS)
        rows.append(
            f'<tr class="pixity-row" data-symbol="{esc(record["symbol"])}" '
            f'data-strategy="{esc(record["strategy_id"])}"{style}{title}>{cells}</tr>'
        )
    body = "".join(rows) or f'<tr><td colspan="{len(OVERVIEW_COLUMNS)}">no runners yet</td></tr>'
    return (
        '<table id="pixity-overview" style="border-collapse:collapse;font-size:13px" '
        f'border="1" cellpadding="3"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def frame_table(frame: pd.DataFrame, table_id: str, columns: Sequence[str]) -> str:
    """Return ``columns`` of ``frame`` as a plain table with id ``table_id``."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = []
    for record in frame.to_dict("records"):
        cells = []
        for c in columns:
            value = record.get(c)
            if isinstance(value, pd.Timestamp) and not pd.isna(value):
                text = html.escape(value.strftime("%Y-%m-%d %H:%M:%S%z"))
            else:
                text = esc(value)
            cells.append(f'<td class="pixity-{c}">{text}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    body = "".join(rows) or f'<tr><td colspan="{len(columns)}">none yet</td></tr>'
    return (
        f'<table id="{table_id}" border="1" cellpadding="3" style="border-collapse:collapse;'
        f'font-size:12px"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def candles_svg(candles: pd.DataFrame, marks: pd.DataFrame, width: int = 720, height: int = 260) -> str:  # fmt: skip
    """Return today's 15m candles as SVG, with the signals marked on their bars."""
    if candles.empty:
        return '<div id="pixity-chart">no 15m candles yet today</div>'
    low, high = float(candles["low"].min()), float(candles["high"].max())
    span = (high - low) or 1.0
    step = width / max(len(candles), 1)

    def y(price: float) -> float:
        return 10 + (high - price) / span * (height - 20)

    parts = []
    index: dict[Any, int] = {ts: i for i, ts in enumerate(candles["bar_ts"])}
    for i, c in enumerate(candles.to_dict("records")):
        x = i * step + step / 2
        colour = "#1e9e4a" if c["close"] >= c["open"] else "#d93025"
        top, bottom = y(max(c["open"], c["close"])), y(min(c["open"], c["close"]))
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y(c["high"]):.1f}" y2="{y(c["low"]):.1f}" '
            f'stroke="{colour}"/><rect x="{x - step * 0.3:.1f}" y="{top:.1f}" '
            f'width="{step * 0.6:.1f}" height="{max(bottom - top, 1):.1f}" fill="{colour}">'
            f"<title>{esc(c['bar_ts'])} O {c['open']:.2f} H {c['high']:.2f} L {c['low']:.2f} "
            f"C {c['close']:.2f}</title></rect>"
        )
    for m in marks.to_dict("records"):
        at = index.get(m["bar_ts"])
        if at is None:
            continue
        bar = candles.iloc[at]
        x = at * step + step / 2
        kind = str(m["signal_type"])
        tip = html.escape(f"{kind} {m['bar_ts']:%H:%M} conf {m['confidence']:.2f} {m['status']}")
        parts.append(
            f'<g class="pixity-mark" data-kind="{html.escape(kind)}">'
            f"{_mark_shape(kind, x, y(bar['low']), y(bar['high']), y(bar['close']), tip)}</g>"
        )
    return (
        f'<svg id="pixity-chart" width="{width}" height="{height + 10}" '
        f'style="background:#fff;border:1px solid #ddd">{"".join(parts)}</svg>'
    )


def _mark_shape(kind: str, x: float, y_low: float, y_high: float, y_close: float, tip: str) -> str:  # fmt: skip
    """Return a BUY triangle under the bar, a SELL one over it, or an EXIT dot at the close."""
    title = f"<title>{tip}</title>"
    if kind == "BUY":
        yy = y_low + 12
        points = f"{x - 6:.1f},{yy:.1f} {x + 6:.1f},{yy:.1f} {x:.1f},{yy - 9:.1f}"
        return f'<polygon points="{points}" fill="#0a7d32">{title}</polygon>'
    if kind == "SELL":
        yy = y_high - 12
        points = f"{x - 6:.1f},{yy:.1f} {x + 6:.1f},{yy:.1f} {x:.1f},{yy + 9:.1f}"
        return f'<polygon points="{points}" fill="#b3261e">{title}</polygon>'
    return f'<circle cx="{x:.1f}" cy="{y_close:.1f}" r="5" fill="#1a73e8">{title}</circle>'


def health_panel(report: Mapping[str, Any] | None, error: str | None = None) -> str:
    """Return the health panel: the design's keys, red when degraded or down."""
    if report is None:
        text = esc(error or "health not read yet")
        return f'<div id="pixity-health" class="pixity-health-unknown">{text}</div>'
    status = str(report.get("status", "down"))
    colour = "#e6f4ea" if status == "ok" else "#fce8e6"
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td class='pixity-h-{k}'>{esc(_plain(report.get(k)))}</td></tr>"
        for k in HEALTH_KEYS
    )
    errors = "".join(
        f"<tr><td>{html.escape(k)}</td><td style='color:#b3261e'>{esc(v)}</td></tr>"
        for k, v in sorted(report.items())
        if k.endswith("_error") and v
    )
    reasons = "".join(f"<li>{esc(r)}</li>" for r in report.get("reasons") or [])
    return (
        f'<div id="pixity-health" class="pixity-health-{esc(status)}" style="background:{colour};'
        f'padding:6px"><b>health: {esc(status)}</b><ul>{reasons}</ul>'
        f'<table style="font-size:12px">{rows}{errors}</table></div>'
    )


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    return value


def light(status: str | None) -> str:
    """Return the header's health light."""
    colour = _LIGHT.get(status or "", "#999")
    label = status or "unknown"
    return (
        f'<span id="pixity-health-light" class="pixity-light-{esc(label)}" title="health: '
        f'{esc(label)}" style="display:inline-block;width:14px;height:14px;border-radius:7px;'
        f'background:{colour}"></span> {esc(label)}'
    )


def header_html(values: Mapping[str, Any], health_status: str | None) -> str:
    """Return the header: session day, market phase, P&L against the limit, kill state, light."""
    pnl, limit = values.get("day_pnl"), values.get("max_daily_loss")
    pnl_text = "–" if pnl is None else f"{pnl:+,.2f}"
    if limit is not None:
        pnl_text += f" of −{limit:,.0f} limit"
        used = values.get("loss_limit_used_pct")
        if used is not None:
            pnl_text += f" ({used:.0f}% used)"
    kill = "KILLED: " + esc(values.get("kill_reason")) if values.get("killed") else "not killed"
    return (
        f'<div id="pixity-header" style="font-size:15px"><b>pixity scanner</b> · session '
        f'<span id="pixity-session-date">{esc(values.get("session_date"))}</span> · market '
        f"{esc(values.get('market_phase'))} · paper P&amp;L {pnl_text} · {kill} · "
        f"{light(health_status)}</div>"
    )


def notes_html(notes: Sequence[str], errors: Mapping[str, str]) -> str:
    """Return what to start first and what could not be read."""
    items = [f"<li>{esc(n)}</li>" for n in notes]
    items += [f"<li style='color:#b3261e'>{esc(k)}: {esc(v)}</li>" for k, v in errors.items()]
    return (
        f'<ul id="pixity-notes">{"".join(items)}</ul>' if items else '<ul id="pixity-notes"></ul>'
    )
