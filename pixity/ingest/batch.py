"""What the main loop hands the flusher: rows, the journal position they cover, side events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from pixity.domain import Bar, FeedStatus, TickRow
from pixity.stores.market import IngestState


@dataclass(frozen=True, slots=True)
class GapOpened:
    """The feed went away at feed-clock time ``at`` (seconds) for ``reason``."""

    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class GapClosed:
    """The feed came back at feed-clock time ``at`` (seconds)."""

    at: datetime


GapEvent = GapOpened | GapClosed


@dataclass(slots=True)
class Batch:
    """Rows to commit in one transaction with ``state`` (the journal position they cover).

    ``ticks`` are the ``ticks`` table's rows, as the validator made them.

    ``bars`` maps (symbol, bar open) to the newest version of that bar: a closed bar replaces
    a forming snapshot, a later snapshot replaces an earlier one.
    """

    ticks: list[TickRow] = field(default_factory=list)
    bars: dict[tuple[str, datetime], Bar] = field(default_factory=dict)
    state: IngestState | None = None
    gaps: list[GapEvent] = field(default_factory=list)
    feed_status: FeedStatus | None = None

    def add_bar(self, bar: Bar) -> None:
        """Keep ``bar`` unless a closed version of it is already held."""
        key = (bar.symbol, bar.ts)
        held = self.bars.get(key)
        if held is None or not held.closed:
            self.bars[key] = bar

    def merge(self, later: Batch) -> None:
        """Fold a later batch into this one (the flusher commits a backlog in one go)."""
        self.ticks.extend(later.ticks)
        for bar in later.bars.values():
            self.add_bar(bar)
        self.state = later.state or self.state
        self.gaps.extend(later.gaps)
        self.feed_status = later.feed_status or self.feed_status

    @property
    def empty(self) -> bool:
        """Tell whether there is nothing to write."""
        return not (self.ticks or self.bars or self.state or self.gaps or self.feed_status)


@dataclass(frozen=True, slots=True)
class RolloverJob:
    """Move session day ``day`` to the history lake and clear it from the live buffer."""

    day: date
