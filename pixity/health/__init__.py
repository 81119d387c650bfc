"""The whole system's health report: ``pixity health`` and the scanner's health panel.

``build_report(data_dir, health_port=..., clock=...)`` reads the ingest's ``GET /health`` on
127.0.0.1 (bounded by a timeout) and every store read-only (``mode=ro``), and returns a
JSON-ready dict. A part that cannot be read never raises: its ``*_error`` key
(``ingest_error``, ``market_error``, ``signals_error``, ``config_error``, ``paper_error``,
``calendar_error``) holds the message, and ``reasons`` says in plain sentences why the status
is not ``ok``. ``notes`` holds facts worth seeing that do not change the status.

Status rules, first match wins:

=========  ==============================================================================
status     when
=========  ==============================================================================
down       nothing to look at: no store file exists under the data dir AND the ingest is
           unreachable; or the ingest answers and reports ``down`` (it stopped on a fatal
           error)
degraded   any of:
           - the ingest is unreachable, times out, answers an HTTP error or a reply that is
             not a valid ``/health`` report (``ingest_error``)
           - the ingest reports ``degraded`` (its reason codes, as sentences)
           - a store exists but cannot be read: corrupt, foreign, wrong schema version,
             locked past ``HEALTH_BUSY_TIMEOUT_S`` (``<store>_error``)
           - a store does not exist yet: market.db ("ingest has not written market.db yet"),
             signals.db, config.db or paper.db ("live session has not written <store> yet
             (start `pixity live`)")
           - any runner is ``STALE`` or ``ERROR``
           - the market is open (``NseCalendar.phase`` is OPEN) and runner_state has not
             been updated for more than ``RUNNER_STALE_AFTER`` (20 min), counting only the
             time since today's 09:15 open
           - the market phase is unknown (the date is outside the installed NSE calendar)
ok         none of the above
=========  ==============================================================================

The daily loss kill being active is not a fault: it is reported (``killed``,
``kill_reason`` and a note) and leaves the status as it is. The report never holds the
access token: the ingest scrubs its own messages, and ``build_report`` masks any ``secrets``
it is given in every text besides.

``exit_code(report)`` maps the status to the command's exit code: ok 0, degraded 1, down 2.
"""

from pixity.health.report import (
    DEGRADED,
    DOWN,
    EXIT_CODES,
    OK,
    RUNNER_STALE_AFTER,
    build_report,
    exit_code,
)
from pixity.health.stores import HEALTH_BUSY_TIMEOUT_S
from pixity.health.summary import format_summary

__all__ = [
    "DEGRADED",
    "DOWN",
    "EXIT_CODES",
    "HEALTH_BUSY_TIMEOUT_S",
    "OK",
    "RUNNER_STALE_AFTER",
    "build_report",
    "exit_code",
    "format_summary",
]
