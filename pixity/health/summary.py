"""The health report as a few lines for a person: one per area, then the reasons and notes."""

from __future__ import annotations

from typing import Any


def format_summary(report: dict[str, Any]) -> str:
    """Return ``report`` as readable text (no trailing newline)."""
    lines = [
        f"status:  {report['status'].upper()}  (checked {report['checked_at']}, "
        f"market {report.get('market_phase') or 'unknown'})",
        f"ingest:  {_ingest(report)}",
        f"market:  {_market(report)}",
        f"session: {_session(report)}",
        f"runners: {_runners(report)}",
        f"signals: {_signals(report)}",
        f"paper:   {_paper(report)}",
    ]
    for title, items in (("reasons", report["reasons"]), ("notes", report["notes"])):
        if items:
            lines.append(f"{title}:")
            lines.extend(f"  - {item}" for item in items)
    return "\n".join(lines)


def _ingest(r: dict[str, Any]) -> str:
    if r["ingest_status"] is None:
        return f"not read: {r['ingest_error']}"
    rejected = r["ticks_rejected"] or {}
    by_reason = ", ".join(f"{k} {v}" for k, v in sorted(rejected.items()))
    parts = [
        f"{r['ingest_status']} at {r['ingest_url']}",
        "feed connected" if r["feed_connected"] else "feed NOT connected",
        f"watchdog {_value(r['watchdog'])}, reconnects {_value(r['reconnects'])}",
        f"last tick {_value(r['last_tick_age_s'], ' s')} ago",
        f"{_value(r['ticks_per_s'])} ticks/s",
        f"rejected {sum(rejected.values())}" + (f" ({by_reason})" if by_reason else ""),
        f"flush failures {_value(r['flush_failures'])}",
        f"last flush {_value(r['last_flush_ms'], ' ms')}",
        f"buffer depth {_value(r['buffer_depth'])}",
    ]
    return ", ".join(parts)


def _market(r: dict[str, Any]) -> str:
    if "market_error" in r:
        return f"live buffer not readable: {r['market_error']}"
    return (
        f"live buffer readable, last 1m bar {r['last_bar_ts'] or 'none yet'}, "
        f"{r['open_gaps']} open gaps"
    )


def _runners(r: dict[str, Any]) -> str:
    if "config_error" in r:
        return f"not read: {r['config_error']}"
    counts = ", ".join(f"{k} {v}" for k, v in r["runners"].items() if v)
    age = r["runner_update_age_s"]
    last = "never" if age is None else f"{r['last_runner_update']} ({_ago(age)})"
    return f"{r['runner_state_count']} runners ({counts or 'none'}), last update {last}"


def _session(r: dict[str, Any]) -> str:
    if "config_error" in r:
        return f"not read: {r['config_error']}"
    s = r["session"]
    if s is None:
        return "no live session has run yet"
    stopped = f" ({s['stop_reason']})" if s["stop_reason"] else ""
    return (
        f"{s['session_date']} {s['status']}{stopped}, run {s['run_id']}: {s['bars_1m']} 1m and "
        f"{s['bars_15m']} 15m bars, {s['late_bars']} late, {s['signals']} signals, "
        f"{s['strategy_errors']} strategy errors; store WALs {_wals(r)}"
    )


def _wals(r: dict[str, Any]) -> str:
    sizes = r.get("store_wal_bytes") or {}
    return ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.items()) or "none"


def _signals(r: dict[str, Any]) -> str:
    if "signals_error" in r:
        return f"not read: {r['signals_error']}"
    return f"{r['signals_count']} in the last day"


def _paper(r: dict[str, Any]) -> str:
    if "paper_error" in r:
        return f"not read: {r['paper_error']}"
    day = r["paper_session_date"]
    if r["day_pnl"] is None:
        return f"no P&L for {day} yet"
    kill = f"KILLED ({r['kill_reason']})" if r["killed"] else "not killed"
    return f"day P&L {r['day_pnl']:+,.2f} on {day} (costs {r['day_costs']:,.2f}), {kill}"


def _ago(seconds: float) -> str:
    if abs(seconds) < 120:
        return f"{seconds:g} s ago"
    return f"{seconds / 60:.0f} min ago"


def _value(value: object, unit: str = "") -> str:
    return "n/a" if value is None else f"{value}{unit}"
