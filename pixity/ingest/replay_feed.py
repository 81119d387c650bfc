"""A feed that plays the frames of a journal file into ingest (offline runs and tests).

It drives the same ``FeedEvents`` callbacks as the websocket adapter. ``speed`` paces frames
by their ``currentTs`` (600 = ten market minutes a wall second); 0 plays as fast as it can.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pixity.errors import ConfigError
from pixity.feeds.journal import read_journal
from pixity.feeds.upstox_wire import MalformedFrameError, decode_frame

log = logging.getLogger(__name__)


class FeedEvents(Protocol):
    """What a feed calls (the adapter's interface)."""

    def on_frame(self, raw: bytes, received_ns: int) -> None: ...
    def on_connected(self, at: datetime) -> None: ...
    def on_disconnected(self, at: datetime, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ReplayStatus:
    """The replay feed's health, shaped like the adapter's."""

    connected: bool
    reconnects: int
    watchdog: str
    last_error: str | None
    handler_errors: int = 0
    text_messages: int = 0
    connect_failures: int = 0
    token_rejections: int = 0
    recycles: int = 0


class ReplayFeed:
    """Play ``path``'s frames into ``events`` once, then return."""

    def __init__(self, path: Path, events: FeedEvents, *, speed: float = 0.0) -> None:
        if not path.is_file():
            raise ConfigError(f"--replay {path}: no such journal file")
        self._path = path
        self._events = events
        self._speed = speed
        self._connected = False

    def status(self) -> ReplayStatus:
        """Return the feed's state."""
        return ReplayStatus(self._connected, 0, "ok", None)

    async def run(self, stop: asyncio.Event) -> None:
        """Play every frame (paced by ``speed``) until the file ends or ``stop`` is set."""
        self._connected = True
        self._events.on_connected(datetime.now(UTC))
        started = time.monotonic()
        base_ms: int | None = None
        for count, record in enumerate(read_journal(self._path)):
            if stop.is_set():
                break
            if self._speed > 0:
                base_ms = await self._pace(record.payload, base_ms, started)
            elif count % 200 == 0:
                await asyncio.sleep(0)
            self._events.on_frame(record.payload, time.time_ns())
        self._connected = False
        log.info("replay of %s finished", self._path)

    async def _pace(self, payload: bytes, base_ms: int | None, started: float) -> int | None:
        try:
            ts_ms = decode_frame(payload).current_ts_ms
        except MalformedFrameError:
            return base_ms
        if base_ms is None:
            return ts_ms
        due = started + (ts_ms - base_ms) / 1000 / self._speed
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        return base_ms
