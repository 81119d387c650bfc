"""The feed's clock: the exchange's ``currentTs``, never going back."""

from __future__ import annotations

from datetime import UTC, datetime

from pixity.markettime import IST, from_epoch_ms


class FeedClock:
    """A ``Clock`` whose time is the largest ``currentTs`` seen so far (the exchange's clock).

    Before any frame it reads the epoch, so nothing closes by time until the feed speaks.
    """

    __slots__ = ("_ms",)

    def __init__(self, start_ms: int | None = None) -> None:
        self._ms = start_ms or 0

    @property
    def ms(self) -> int | None:
        """Return the clock as epoch milliseconds, or None before any frame."""
        return self._ms or None

    def observe(self, current_ts_ms: int) -> None:
        """Move the clock to ``current_ts_ms`` if that is later (a zero stamp is ignored)."""
        if current_ts_ms > self._ms:
            self._ms = current_ts_ms

    def now(self) -> datetime:
        """Return the feed's time in IST (the epoch before any frame)."""
        if not self._ms:
            return datetime.fromtimestamp(0, tz=UTC).astimezone(IST)
        return from_epoch_ms(self._ms)

    def now_seconds(self) -> datetime | None:
        """Return the feed's time cut to the second (for ``*_ts`` columns), or None."""
        return None if not self._ms else self.now().replace(microsecond=0)
