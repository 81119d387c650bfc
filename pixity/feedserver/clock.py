"""The local exchange's simulated market clock, and the market status it implies.

The clock runs at ``speed`` times wall time, but only while at least one client is
subscribed: with nobody listening it stands still, so a client that connects late (or
reconnects) misses nothing. It is driven by wall-clock readings handed in by the caller
(monotonic seconds), so it is a pure function of its inputs and tests need no sleeping.
"""

from __future__ import annotations

from datetime import datetime

from pixity.errors import InvalidValueError
from pixity.markettime import IST, MarketPhase, from_epoch_ms, nse_calendar

# Segments a market_info frame reports. Upstox lists every segment; the local exchange gives
# them all the equity session's status because it only simulates the equity session.
SEGMENTS = ("NSE_EQ", "NSE_FO", "NSE_INDEX", "BSE_EQ", "BSE_FO", "BSE_INDEX", "NCD_FO", "MCX_FO")

_STATUS = {
    MarketPhase.PRE_OPEN: "PRE_OPEN_START",
    MarketPhase.OPEN: "NORMAL_OPEN",
    MarketPhase.CLOSED: "NORMAL_CLOSE",
}


class SimClock:
    """Simulated epoch milliseconds = base + speed x running wall time since the base."""

    __slots__ = ("_base_ms", "_base_wall", "_running", "speed")

    def __init__(self, start_ms: int, speed: float, wall: float) -> None:
        if not 0 < speed <= 1_000_000:
            raise InvalidValueError(f"speed {speed} must be in (0, 1000000]")
        self.speed = speed
        self._base_ms = float(start_ms)
        self._base_wall = wall
        self._running = False

    @property
    def running(self) -> bool:
        """Tell whether the clock is moving (some client is subscribed)."""
        return self._running

    def now_ms(self, wall: float) -> int:
        """Return the simulated time at wall-clock reading ``wall``, in epoch ms."""
        if not self._running:
            return int(self._base_ms)
        return int(self._base_ms + max(0.0, wall - self._base_wall) * 1000.0 * self.speed)

    def set_running(self, running: bool, wall: float) -> None:
        """Start or stop the clock at ``wall``; the simulated time carries over."""
        if running == self._running:
            return
        self._base_ms = float(self.now_ms(wall))
        self._base_wall = wall
        self._running = running

    def rebase(self, sim_ms: int, wall: float) -> None:
        """Hold the clock back to ``sim_ms`` at ``wall`` (never forward: use ``jump``)."""
        self._base_ms = float(min(sim_ms, self.now_ms(wall)))
        self._base_wall = wall

    def jump(self, sim_ms: int, wall: float) -> None:
        """Move the clock forward to ``sim_ms`` (skipping a night between replayed days)."""
        self._base_ms = float(max(sim_ms, self.now_ms(wall)))
        self._base_wall = wall


def market_status(now_ms: int) -> str:
    """Return the Upstox ``MarketStatus`` name of the equity session at ``now_ms``."""
    when = from_epoch_ms(now_ms)
    return _STATUS[nse_calendar().phase(when)]


def segment_status(now_ms: int) -> dict[str, str]:
    """Return the ``segmentStatus`` map of a market_info frame at ``now_ms``."""
    status = market_status(now_ms)
    return dict.fromkeys(SEGMENTS, status)


def ist_day_start_ms(ms: int) -> int:
    """Return the epoch ms of midnight IST on the IST day holding ``ms``."""
    local = from_epoch_ms(ms)
    midnight = datetime(local.year, local.month, local.day, tzinfo=IST)
    return int(midnight.timestamp() * 1000)
