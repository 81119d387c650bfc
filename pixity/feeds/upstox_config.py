"""Settings, health snapshot and backoff of the Upstox V3 feed client (``pixity.feeds.upstox``).

Plain values only: no socket here, so the ingest and its tests can build and inspect them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pixity.domain import FeedState, check_symbol
from pixity.errors import ConfigError, InvalidValueError
from pixity.feeds.secret import Secret
from pixity.feeds.upstox_auth import FeedEndpoint
from pixity.feeds.upstox_wire import Mode

SUBSCRIBE_CHUNK = 1000  # keys per ``sub`` request
MAX_KEYS = 5000  # Upstox's per-connection ceiling for the lightest mode


class Watchdog(StrEnum):
    """What the silence watchdog makes of the feed."""

    OK = "ok"
    SILENT = "silent"  # no frame for silence_s while the market is open: a fault
    IDLE_MARKET = "idle-market"  # quiet, but the market is closed: expected


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstoxFeedConfig:
    """How to reach the feed and what to ask it for. ``feed_url`` None means production.

    ``stable_s``: a connection that delivered data and stayed up this long (or
    ``backoff_max_s``, if that is shorter) was a good one, and resets the backoff.
    """

    keys: tuple[str, ...]
    token: Secret
    feed_url: str | None = None
    mode: Mode = Mode.FULL
    open_timeout_s: float = 10.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    stable_s: float = 5.0
    silence_s: float = 60.0
    ping_interval_s: float = 10.0
    ping_timeout_s: float = 10.0
    close_timeout_s: float = 1.0

    def __post_init__(self) -> None:
        keys: object = self.keys  # typed as a tuple, but a caller may pass one string
        if not isinstance(keys, tuple):
            raise ConfigError("keys must be a tuple of instrument keys")
        if not self.keys or len(self.keys) > MAX_KEYS:
            raise ConfigError(f"{len(self.keys)} keys: subscribe 1 to {MAX_KEYS}")
        if len(set(self.keys)) != len(self.keys):
            raise ConfigError("keys must not repeat")
        for key in self.keys:
            try:
                check_symbol(key)
            except InvalidValueError as exc:
                raise ConfigError(str(exc)) from None
        if not isinstance(self.token, Secret):
            raise ConfigError("token must be a pixity.feeds.secret.Secret")
        if not isinstance(self.mode, Mode):
            raise ConfigError(f"mode {self.mode!r} must be a Mode")
        FeedEndpoint.from_feed_url(self.feed_url)
        for name in (
            "open_timeout_s",
            "backoff_initial_s",
            "backoff_max_s",
            "stable_s",
            "silence_s",
            "ping_interval_s",
            "ping_timeout_s",
            "close_timeout_s",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"{name} {value!r} must be a number > 0")
        if self.backoff_initial_s > self.backoff_max_s:
            raise ConfigError(
                f"backoff_initial_s {self.backoff_initial_s} > backoff_max_s {self.backoff_max_s}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedHealth:
    """A snapshot of the feed for health reports. Holds no secret.

    ``silence_s`` is how long the current connection has gone without a frame (None when
    not connected); ``last_message_at`` is the wall-clock time of the newest frame.
    """

    state: FeedState
    connected: bool
    reconnects: int
    last_message_at: datetime | None
    last_error: str | None
    watchdog: Watchdog
    silence_s: float | None
    frames: int
    text_messages: int
    handler_errors: int
    connect_failures: int
    token_rejections: int
    recycles: int


def backoff_delay(attempt: int, *, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Return a full-jitter delay, uniform in [0, min(max_s, initial_s * 2**attempt)]."""
    ceiling = min(max_s, initial_s * 2.0 ** min(max(attempt, 0), 60))
    return rng.uniform(0.0, ceiling)


def chunks(keys: Sequence[str], size: int = SUBSCRIBE_CHUNK) -> list[Sequence[str]]:
    """Return ``keys`` in subscribe-sized pieces."""
    return [keys[i : i + size] for i in range(0, len(keys), size)]
