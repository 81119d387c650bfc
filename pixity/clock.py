"""Clocks. Core code never calls ``datetime.now()``: it is handed a clock.

``WallClock`` is the live one; ``ManualClock`` is set by hand (tests) or by a feed's own
clock when replaying at speed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from pixity.errors import InvalidValueError


class Clock(Protocol):
    """Anything that can tell the current time as an aware datetime."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware."""
        ...


class WallClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        """Return the wall-clock time, timezone-aware (UTC)."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to."""

    __slots__ = ("_now",)

    def __init__(self, start: datetime) -> None:
        _require_aware(start)
        self._now = start

    def now(self) -> datetime:
        """Return the time last set."""
        return self._now

    def set(self, when: datetime) -> None:
        """Move the clock to ``when``; it never goes backwards."""
        _require_aware(when)
        if when < self._now:
            raise InvalidValueError(f"clock cannot go back from {self._now} to {when}")
        self._now = when

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        self.set(self._now + delta)


def _require_aware(when: datetime) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidValueError(f"naive datetime {when!r}: a clock needs a timezone")
