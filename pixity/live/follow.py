"""Follow the live buffer read-only: new 1m bars as the ingest commits them, and its clock.

``PRAGMA data_version`` tells, for the price of one tiny read, whether any other connection
committed since the last look; only then are the bars read. Each read is short and no
transaction is held between polls, so the ingest's WAL can always be checkpointed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pixity.domain import Bar
from pixity.markettime import from_epoch_ms, session_open
from pixity.stores.market import IngestState, MarketReader

log = logging.getLogger(__name__)

_LOOKBACK = timedelta(minutes=15)


@dataclass(frozen=True, slots=True, kw_only=True)
class Update:
    """What changed in the live buffer since the last poll.

    ``closed`` are 1m bars closed since then, ``forming`` the bars still forming (with their
    latest values), both in time order; ``feed_clock`` the ingest's feed clock at its last
    commit; ``session_date`` the day the ingest is on.
    """

    closed: tuple[Bar, ...]
    forming: tuple[Bar, ...]
    feed_clock: datetime | None
    session_date: date | None
    rolled_over: bool


class BarFollower:
    """Hand out each closed 1m bar of ``symbols`` once, in time order, for one session day."""

    def __init__(self, reader: MarketReader, symbols: Sequence[str], day: date) -> None:
        self._reader = reader
        self._symbols = list(symbols)
        self._day = day
        self._version: int | None = None
        # Per symbol, the open time of the next closed bar it may hand out.
        self._next: dict[str, datetime] = {s: session_open(day) for s in symbols}
        self._newest: datetime | None = None  # the newest closed bar handed out

    def _since(self) -> datetime:
        """Return where this poll's read starts.

        Every symbol's next bar, but never further back than ``_LOOKBACK`` before the newest
        bar handed out: the ingest commits a bar within a second of its minute, so anything
        older was there at an earlier poll. Without the floor, one symbol that has not traded
        yet would make every poll read the whole day.
        """
        since = min(self._next.values())
        if self._newest is not None:
            since = max(since, self._newest - _LOOKBACK)
        return since

    def poll(self) -> Update | None:
        """Return what changed since the last poll, or None if nothing was committed."""
        version = self._reader.data_version()
        if version == self._version:
            return None
        with self._reader.snapshot():  # bars and clock from one commit; a short read
            state = self._reader.ingest_state()
            bars = self._reader.bars_1m(self._symbols, since=self._since())
        self._version = version
        closed, forming = [], []
        for bar in bars:
            if bar.ts.date() != self._day or bar.ts < self._next[bar.symbol]:
                continue
            if bar.closed:
                closed.append(bar)
                self._next[bar.symbol] = bar.ts + timedelta(minutes=1)
                self._newest = max(self._newest or bar.ts, bar.ts)
            else:
                forming.append(bar)
        return Update(
            closed=tuple(closed),
            forming=tuple(forming),
            feed_clock=_clock_of(state),
            session_date=None if state is None else state.session_date,
            rolled_over=bool(state and state.rolled_over and state.session_date == self._day),
        )


def _clock_of(state: IngestState | None) -> datetime | None:
    if state is None or state.feed_clock_ms is None:
        return None
    return from_epoch_ms(state.feed_clock_ms)
