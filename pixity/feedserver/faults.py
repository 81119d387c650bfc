"""Fault injection: the local exchange misbehaving on purpose, counted, and reproducible.

Rate faults act on the tick frames one client is about to be sent (heartbeats, market_info
and snapshots are left alone so a client can always start); each draw comes from one
``random.Random(seed)``, so a given seed and traffic give the same faults. Timed faults
(drops, stalls) are driven by the server's wall-clock timers. A black hole (``blackhole``)
replaces the whole server by one that accepts connections and never answers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from pixity.errors import ConfigError
from pixity.feeds.upstox_wire import FrameKind, frame_from_entries

UNKNOWN_KEY = "NSE_EQ|INE000X00000"
BAD_PRICES = (math.nan, -1.0, 0.0)


class BlackHole(StrEnum):
    """How a black-holed server treats a connection it accepted (it never sends data)."""

    ACCEPT = "accept"  # the websocket handshake never completes: nothing is ever written
    HANDSHAKE = "handshake"  # 101 Switching Protocols, then silence: no frame, no pong


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultConfig:
    """Which faults to inject; everything off by default."""

    drop_every_s: float = 0.0
    stall_every_s: float = 0.0
    stall_for_s: float = 0.0
    malformed_rate: float = 0.0
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    unknown_key_rate: float = 0.0
    bad_price_rate: float = 0.0
    black_hole: BlackHole | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("malformed_rate", "duplicate_rate", "reorder_rate"):
            _check_rate(name, getattr(self, name))
        _check_rate("unknown_key_rate", self.unknown_key_rate)
        _check_rate("bad_price_rate", self.bad_price_rate)
        if (self.stall_every_s > 0) != (self.stall_for_s > 0):
            raise ConfigError("--stall-every and --stall-for go together")
        if self.stall_every_s and self.stall_for_s >= self.stall_every_s:
            raise ConfigError(
                f"--stall-for {self.stall_for_s} must be shorter than --stall-every "
                f"{self.stall_every_s}"
            )
        if self.black_hole is not None and not isinstance(self.black_hole, BlackHole):
            raise ConfigError(f"black_hole {self.black_hole!r} must be a BlackHole")

    @property
    def rates_on(self) -> bool:
        """Tell whether any per-frame fault is enabled."""
        return any(
            (
                self.malformed_rate,
                self.duplicate_rate,
                self.reorder_rate,
                self.unknown_key_rate,
                self.bad_price_rate,
            )
        )


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} {value} must be in 0..1")


@dataclass(slots=True)
class TickFrame:
    """A tick frame being assembled for one client: entries and what they were built from.

    Entry ``i`` is tick ``ticks[i]`` of the batch (an index into it) in full mode if
    ``full[i]``, else ltpc. (Two flat lists rather than a tuple per entry: the send path
    builds these for every tick.)
    """

    ts: int
    entries: list[bytes] = field(default_factory=list)
    ticks: list[int] = field(default_factory=list)
    full: list[bool] = field(default_factory=list)


# Builds a replacement entry from (slice index, full mode, key override, price override).
EntryMaker = Callable[[int, bool, str | None, float | None], bytes]


class FaultInjector:
    """Apply the rate faults of ``config`` to one client's tick frames, counting each.

    A reordered frame is held back and sent right after the client's next tick frame.
    """

    def __init__(self, config: FaultConfig, counts: dict[str, int], stream: int = 0) -> None:
        self.config = config
        self.counts = counts
        # One stream per client (its connection number) keeps each client's faults stable.
        self._rng = random.Random(f"{config.seed}:{stream}")
        self._held: bytes | None = None  # a frame held back by a reorder

    def serialize(self, frames: list[TickFrame], make: EntryMaker) -> list[bytes]:
        """Return the frames' bytes, with faults applied when any are enabled."""
        if not self.config.rates_on:
            return [frame_from_entries(FrameKind.LIVE_FEED, f.ts, f.entries) for f in frames]
        out: list[bytes] = []
        for frame in frames:
            self._corrupt_entries(frame, make)
            data = frame_from_entries(FrameKind.LIVE_FEED, frame.ts, frame.entries)
            self._emit(out, data)
            if self._hit(self.config.duplicate_rate):
                self._emit(out, data)
                self._count("duplicate_frames")
        return [self._maybe_garble(data) for data in out]

    def _corrupt_entries(self, frame: TickFrame, make: EntryMaker) -> None:
        cfg = self.config
        if frame.ticks and self._hit(cfg.bad_price_rate):
            pos = self._rng.randrange(len(frame.ticks))
            price = self._rng.choice(BAD_PRICES)
            frame.entries[pos] = make(frame.ticks[pos], frame.full[pos], None, price)
            self._count("bad_prices")
        if frame.ticks and self._hit(cfg.unknown_key_rate):
            frame.entries.append(make(frame.ticks[0], frame.full[0], UNKNOWN_KEY, None))
            self._count("unknown_keys")

    def _emit(self, out: list[bytes], data: bytes) -> None:
        """Append ``data``; or hold it back and send it after the next tick frame."""
        if self._held is not None:
            out.append(data)
            out.append(self._held)
            self._held = None
        elif self._hit(self.config.reorder_rate):
            self._held = data
            self._count("reordered_frames")
        else:
            out.append(data)

    def _maybe_garble(self, data: bytes) -> bytes:
        if not self._hit(self.config.malformed_rate):
            return data
        self._count("malformed_frames")
        # Tag 0x0f is field 1 with wire type 7, which does not exist: no parser accepts it.
        return b"\x0f" + self._rng.randbytes(max(8, len(data) // 2))

    def _hit(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
