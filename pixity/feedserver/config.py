"""The local exchange's settings, checked once when built."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from pixity.errors import ConfigError
from pixity.feedserver.faults import FaultConfig

MAX_SPEED = 100_000.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """How the server listens, paces and misbehaves.

    ``speed`` is a ceiling: when the server or a client cannot keep up, the simulated clock
    is held back rather than skipping ticks. ``pump_interval_s`` is how often due ticks are
    sent (and a heartbeat with the current time goes out); ``max_batch`` bounds the ticks
    handled per pump; ``queue_high`` is the per-client queue length above which the market
    waits, and ``slow_grace_s`` how long a client may stay above it before it is dropped.
    ``resend_s``: a client that subscribes after another client's connection ended gets the
    ticks of the last ``resend_s`` wall seconds (times the speed) of the tape again, so the
    frames that were in flight when a client died reach its successor (tests of the
    ingest's crash safety use it; a real broker does not do this).
    """

    host: str = "127.0.0.1"
    port: int = 8765
    speed: float = 1.0
    require_token: str | None = None
    record: Path | None = None
    stats: Path | None = None
    exit_at_close: bool = False
    resend_s: float = 0.0
    faults: FaultConfig = field(default_factory=FaultConfig)
    pump_interval_s: float = 0.02
    max_batch: int = 20_000
    queue_high: int = 5_000
    slow_grace_s: float = 5.0
    send_timeout_s: float = 10.0
    stats_every_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.speed <= MAX_SPEED:
            raise ConfigError(f"--speed {self.speed} must be in (0, {MAX_SPEED:g}]")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port {self.port} must be in 0..65535")
        if self.resend_s < 0:
            raise ConfigError(f"--resend-on-resubscribe {self.resend_s} must be >= 0")
        if self.require_token is not None and not self.require_token.strip():
            raise ConfigError("--require-token must not be empty")
        if not is_loopback(self.host) and self.require_token is None:
            raise ConfigError(
                f"--host {self.host} is not loopback: anyone on the network could connect; "
                "give --require-token TOKEN to bind it"
            )


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` names only this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
