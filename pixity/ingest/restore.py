"""Rebuild a session day's in-memory state from what ``market.db`` holds.

After a crash (or a buffer overflow) the store is the truth up to the committed journal
offset. For each symbol the ticks of its last stored bar are replayed, in ``seq`` order, into
a fresh aggregator with its output silenced; then the feed clock is set to the committed one
and bars the clock has passed are closed. That leaves each symbol as the uninterrupted run
had it: the forming bar with its ticks (and their duplicate keys), or no bar and the
watermark at the end of the last closed one. The validator gets the next seq, each key's
high-water ``vtt`` and last accepted trade.
"""

from __future__ import annotations

import logging

from pixity.domain import Bar
from pixity.ingest.day import SessionDay
from pixity.markettime import bar_end, to_ist
from pixity.stores.market import IngestState, MarketReader

log = logging.getLogger(__name__)


def last_bars(reader: MarketReader, day: SessionDay) -> dict[str, Bar]:
    """Return each symbol's newest stored 1m bar of ``day``."""
    out: dict[str, Bar] = {}
    for bar in reader.bars_1m(symbols=list(day.validator.symbols)):
        if to_ist(bar.ts).date() == day.day:
            out[bar.symbol] = bar  # ordered by time: the last one wins
    return out


def restore_day(reader: MarketReader, day: SessionDay, state: IngestState) -> None:
    """Load ``state`` and the stored bars' ticks into ``day`` (already ``reset``)."""
    stored = last_bars(reader, day)
    spans = {symbol: (bar.ts, bar_end(bar.ts)) for symbol, bar in stored.items()}
    for ticks in reader.ticks_in_spans(spans).values():
        for tick in ticks:  # by seq
            day.bars.on_tick(tick)
    day.bars.on_time()
    day.bars.counts.clear()
    day.validator.restore(
        next_seq=state.next_seq,
        high_water=reader.tick_high_water(),
        last_ticks=reader.last_ticks(),
    )
    _check_forming(day, stored)
    log.info(
        "restored session %s: %d symbols, next seq %d, journal offset %d",
        day.day,
        len(stored),
        state.next_seq,
        state.journal_offset,
    )


def _check_forming(day: SessionDay, stored: dict[str, Bar]) -> None:
    """Warn where the rebuilt forming bar differs from the stored one (should never happen)."""
    for bar in day.bars.forming():
        held = stored.get(bar.symbol)
        if held is None or held.closed or held != bar:
            log.warning(
                "restore %s bar_ts %s: rebuilt forming bar %s differs from stored %s",
                bar.symbol,
                bar.ts.isoformat(),
                bar,
                held,
            )
