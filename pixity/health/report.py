"""Assemble the health report from its parts and decide its status (rules: ``pixity.health``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pixity.clock import Clock
from pixity.errors import CalendarRangeError
from pixity.feeds.secret import Secret, redact
from pixity.health.ingest import IngestPart, ingest_reason, read_ingest
from pixity.health.stores import (
    StorePart,
    read_config,
    read_market,
    read_paper,
    read_signals,
)
from pixity.markettime import MarketPhase, nse_calendar, session_open, to_ist
from pixity.stores.paths import StorePaths

OK, DEGRADED, DOWN = "ok", "degraded", "down"
EXIT_CODES = {OK: 0, DEGRADED: 1, DOWN: 2}
DEFAULT_TIMEOUT_S = 2.0
# runner_state is written on every 15m bar close: 20 minutes without a write while the market
# is open means the live session has stopped updating it (a bar close and its grace are missed).
RUNNER_STALE_AFTER = timedelta(minutes=20)


def build_report(
    data_dir: Path,
    *,
    health_port: int,
    clock: Clock,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    secrets: tuple[Secret, ...] = (),
) -> dict[str, Any]:
    """Return the whole system's health report (JSON-ready) for the stores under ``data_dir``.

    Never raises for a part that cannot be read: that part's ``*_error`` says why. ``secrets``
    are masked in every text of the report (the ingest masks its own already).
    """
    now = clock.now()
    paths = StorePaths(data_dir)
    report: dict[str, Any] = {
        "checked_at": now.astimezone(UTC).isoformat(),
        "data_dir": str(data_dir),
    }
    reasons: list[str] = []

    phase = _market_phase(now, report)
    if "calendar_error" in report:
        reasons.append(f"market hours are unknown: {report['calendar_error']}")

    ingest = read_ingest(health_port, timeout_s=timeout_s)
    _add_ingest(report, ingest, reasons)

    report["store_wal_bytes"] = _wal_sizes(paths)  # before this report's readers open any
    market = read_market(paths)
    day = market.fields.get("session_date") or _session_date(now)
    stores = [market, read_signals(paths, now), read_config(paths), read_paper(paths, day)]
    for part in stores:
        _add_store(report, part, reasons)

    reasons.extend(_runner_reasons(report, now, phase))
    status = _status(ingest, stores, reasons)
    if status == DOWN and not ingest.reachable:
        reasons.insert(
            0,
            f"nothing is running: no store under {data_dir} and no ingest at {ingest.url} "
            "(start `pixity ingest`, then `pixity live`)",
        )
    report.update(status=status, reasons=reasons, notes=_notes(report))
    return {key: _scrub(value, secrets) for key, value in report.items()}


def exit_code(report: dict[str, Any]) -> int:
    """Return the command's exit code for ``report``: 0 ok, 1 degraded, 2 down."""
    return EXIT_CODES[str(report["status"])]


def _market_phase(now: datetime, report: dict[str, Any]) -> MarketPhase | None:
    try:
        phase = nse_calendar().phase(now)
    except CalendarRangeError as exc:
        report.update(market_phase=None, calendar_error=str(exc))
        return None
    report["market_phase"] = phase.value
    return phase


def _session_date(now: datetime) -> str:
    """Return the session day whose paper P&L to show: today, or the last trading day."""
    day = to_ist(now).date()
    try:
        calendar = nse_calendar()
        if not calendar.is_trading_day(day):
            day = calendar.previous_trading_day(day)
    except CalendarRangeError:
        pass  # reported once as calendar_error; today's date is the best guess
    return day.isoformat()


def _add_ingest(report: dict[str, Any], ingest: IngestPart, reasons: list[str]) -> None:
    report.update(ingest.fields)
    report.update(ingest_url=ingest.url, ingest_status=ingest.status, ingest_reasons=ingest.reasons)
    if ingest.error is not None:
        report["ingest_error"] = ingest.error
        reasons.append(ingest.error)
    if ingest.status in (DEGRADED, DOWN):
        found = [ingest_reason(code) for code in ingest.reasons]
        reasons.extend(found or [f"the ingest reports {ingest.status}"])


def _add_store(report: dict[str, Any], part: StorePart, reasons: list[str]) -> None:
    report.update(part.fields)
    if part.error is None:
        return
    info = part.info
    report[f"{info.key}_error"] = part.error
    if part.exists:
        reasons.append(f"{info.file} could not be read: {part.error}")
    else:
        reasons.append(f"{info.writer} has not written {info.file} yet (start `{info.command}`)")


def _runner_reasons(report: dict[str, Any], now: datetime, phase: MarketPhase | None) -> list[str]:
    reasons = []
    for row in report["runners_attention"]:
        why = f" ({row['last_error']})" if row["last_error"] else ""
        reasons.append(f"runner {row['symbol']}/{row['strategy_id']} is {row['status']}{why}")
    counts = report["runners"] or {}
    unlisted = counts.get("STALE", 0) + counts.get("ERROR", 0) - len(report["runners_attention"])
    if unlisted > 0:
        reasons.append(f"{unlisted} more runners are STALE or ERROR")
    last_text = report["last_runner_update"]
    last = None if last_text is None else datetime.fromisoformat(last_text)
    report["runner_update_age_s"] = None if last is None else round((now - last).total_seconds(), 1)
    if phase is MarketPhase.OPEN and last is not None:
        # Count only the time the market has been open: last night's final write is not
        # stale at 09:20; by 09:35 the 09:15 bar has closed and should have been written.
        age = now - max(last, session_open(to_ist(now).date()))
        if age > RUNNER_STALE_AFTER:
            reasons.append(
                f"runner_state has not been updated for {int(age.total_seconds() // 60)} min "
                f"while the market is open (last update {last_text}); "
                "the live session may have stopped"
            )
    return reasons


def _wal_sizes(paths: StorePaths) -> dict[str, int]:
    """Return each store's write-ahead log size in bytes (stores without one are left out).

    A WAL that keeps growing means a reader holds a snapshot open and the writer's checkpoints
    cannot reset it; the scanner's readers never do.
    """
    sizes = {}
    for name in ("market", "signals", "config", "paper"):
        wal = Path(f"{getattr(paths, name)}-wal")
        try:
            sizes[name] = wal.stat().st_size
        except OSError:
            continue  # no WAL (no store yet, or checkpointed away at close)
    return sizes


def _notes(report: dict[str, Any]) -> list[str]:
    """Return what is worth seeing but is not a fault."""
    notes = []
    if report["killed"]:
        notes.append(
            f"the daily loss kill is active for {report['paper_session_date']}: "
            f"{report['kill_reason']}; new entries are blocked until the next session day"
        )
    if report["runner_state_count"] == 0:
        notes.append("config.db has no runner_state rows yet")
    session = report["session"]
    if session is not None and session["late_bars"]:
        notes.append(
            f"{session['late_bars']} 1m bar(s) reached the live session of "
            f"{session['session_date']} after their 15m bar had closed, so the strategies "
            "decided those 15m bars without them (the ingest flushed late or the feed sent old "
            "ticks; a restart's replay would see them in time); the session log in "
            f"{Path(report['data_dir']) / 'runs' / session['session_date']} names each"
        )
    if report["runners_warming"]:
        notes.append(
            f"{report['runners_warming']} running runner(s) are still short of their warm-up "
            f"bars, e.g. {report['runners_warming_example']}"
        )
    return notes


def _status(ingest: IngestPart, stores: list[StorePart], reasons: list[str]) -> str:
    if ingest.status == DOWN:
        return DOWN
    if not ingest.reachable and not any(part.exists for part in stores):
        return DOWN
    return DEGRADED if reasons else OK


def _scrub(value: Any, secrets: tuple[Secret, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {key: _scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secrets) for item in value]
    return value
