"""The ingest's part of the health report: ``GET http://127.0.0.1:PORT/health``, parsed here.

The reply is checked field by field at this boundary: a field of the wrong type is an error
that is reported, not a value passed on. Every wait is bounded: the connection and each read
by the socket timeout, the whole read by a deadline, the body by a size cap.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

INGEST_HOST = "127.0.0.1"
MAX_BODY_BYTES = 1_000_000  # a /health reply is a few KB; more is not an ingest talking
INGEST_STATUSES = ("ok", "degraded", "down")

# What each of the ingest's reason codes means, as a sentence for a person.
INGEST_REASONS = {
    "stopped": "the ingest stopped on a fatal error",
    "feed_disconnected": "the ingest's feed is disconnected",
    "watchdog_silent": "the ingest's feed watchdog reports a silent feed",
    "flush_failing": "the ingest's flushes to market.db are failing",
    "journal_failing": "the ingest cannot write its journal (frames wait in memory)",
    "buffer_full": "the ingest's tick buffer is full (it only journals now)",
    "rollover_failing": "the ingest's end-of-day rollover to the history lake is failing",
    "frames_failed": "some feed frames failed to process in the ingest",
    "no_ticks": "the ingest has had no ticks for a while although the market is open",
}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _optional_number(value: object) -> bool:
    return value is None or _number(value)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _counts(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and _count(v) for k, v in value.items()
    )


def _optional_text(value: object) -> bool:
    return value is None or isinstance(value, str)


# The fields copied from the ingest's reply into the report, each with its check.
INGEST_FIELDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "feed_connected": (lambda v: isinstance(v, bool), "a boolean"),
    "last_tick_age_s": (_optional_number, "a number or null"),
    "ticks_per_s": (_number, "a number"),
    "ticks_rejected": (_counts, "an object of counts by reason"),
    "flush_failures": (_count, "a count"),
    "last_flush_ms": (_optional_number, "a number or null"),
    "buffer_depth": (_count, "a count"),
    "buffer_full": (lambda v: isinstance(v, bool), "a boolean"),
    "frames_held": (_count, "a count"),
    "ticks_total": (_count, "a count"),
    "reconnects": (_count, "a count"),
    "wal_bytes": (_count, "a count"),
    "watchdog": (_optional_text, "text or null"),
}
# The ingest's own error messages (already scrubbed of secrets by the ingest).
INGEST_ERROR_FIELDS = (
    "journal_error", "flush_error", "feed_error", "rollover_error", "fatal_error"
)  # fmt: skip


class IngestReplyError(Exception):
    """The ingest answered, but not with a ``/health`` report this code understands."""


@dataclass(slots=True)
class IngestPart:
    """What the report takes from the ingest: its fields, or why they could not be had."""

    url: str
    reachable: bool = False
    status: str | None = None
    reasons: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def ingest_url(port: int) -> str:
    """Return the ingest's health URL on the loopback."""
    return f"http://{INGEST_HOST}:{port}/health"


def read_ingest(port: int, *, timeout_s: float) -> IngestPart:
    """Fetch and parse the ingest's ``/health``; never raise: a failure is in ``error``."""
    part = IngestPart(url=ingest_url(port), fields=dict.fromkeys(INGEST_FIELDS))
    try:
        _parse(_fetch(part.url, timeout_s), part)
    except IngestReplyError as exc:
        part.reachable = True
        part.error = f"ingest at {part.url} sent a reply health cannot read: {exc}"
    except urllib.error.HTTPError as exc:
        exc.close()
        part.reachable = True
        part.error = f"ingest at {part.url} answered {_describe(exc)}"
    except Exception as exc:  # the ingest part's I/O boundary: report, do not raise
        log.debug("health: GET %s failed", part.url, exc_info=True)
        part.error = f"ingest unreachable at {part.url}: {_describe(exc)}"
    else:
        part.reachable = True
    return part


def _fetch(url: str, timeout_s: float) -> bytes:
    # No proxy: an http_proxy in the environment must not route a loopback request elsewhere.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout_s
    with opener.open(url, timeout=timeout_s) as reply:
        chunks: list[bytes] = []
        size = 0
        while chunk := reply.read(65536):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise IngestReplyError(f"reply is larger than {MAX_BODY_BYTES} bytes")
            if time.monotonic() > deadline:
                raise TimeoutError(f"reply took longer than {timeout_s:g} s")
            chunks.append(chunk)
    return b"".join(chunks)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return _describe(exc.reason) if isinstance(exc.reason, BaseException) else str(exc.reason)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is `pixity ingest` running with this --health-port?)"
    if isinstance(exc, TimeoutError):
        return f"timed out ({exc})" if str(exc) else "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _parse(body: bytes, part: IngestPart) -> None:
    try:
        reply = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestReplyError(f"not JSON ({exc})") from None
    if not isinstance(reply, dict):
        raise IngestReplyError(f"a JSON {type(reply).__name__}, not an object")
    status = reply.get("status")
    if status not in INGEST_STATUSES:
        raise IngestReplyError(f"status {status!r} is not one of {', '.join(INGEST_STATUSES)}")
    part.status = status
    reasons = reply.get("reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise IngestReplyError("reasons is not a list of text")
    part.reasons = reasons
    wrong = []
    for name, (check, kind) in INGEST_FIELDS.items():
        value = reply.get(name)
        if name in reply and not check(value):
            wrong.append(f"{name} {value!r} is not {kind}")
        else:
            part.fields[name] = value
    for name in INGEST_ERROR_FIELDS:
        value = reply.get(name)
        if value:
            part.fields[name] = str(value)
    if wrong:
        raise IngestReplyError("; ".join(wrong))


def ingest_reason(code: str) -> str:
    """Return the sentence for one of the ingest's reason codes."""
    return INGEST_REASONS.get(code, f"the ingest reports {code!r}")
