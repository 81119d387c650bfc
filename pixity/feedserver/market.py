"""The exchange's side of the feed: which ticks are due, and their encoded feed entries.

One ``Market`` serves every client: it walks the tape as the simulated clock advances,
remembers each key's last tick (for ``initial_feed`` snapshots), and holds every tick's feed
entry in each mode, encoded ahead of time the first time a client wants that mode
(``EncodedEntries``): sending a tick costs slicing its bytes out of a blob.
"""

from __future__ import annotations

import numpy as np

from pixity.feeds.upstox_wire import EntryEncoder, FrameKind, frame_from_entries
from pixity.feedserver.entries import EncodedEntries
from pixity.feedserver.tape import Tape


class Batch:
    """Ticks ``lo``..``hi`` of the tape, which came due together; ``j`` counts from ``lo``."""

    __slots__ = ("_market", "_spans", "hi", "key_index", "lo", "ltt", "tape")

    def __init__(self, market: Market, lo: int, hi: int) -> None:
        self._market = market
        self.tape = market.tape
        self.lo = lo
        self.hi = hi
        self.key_index = self.tape.key_index[lo:hi]
        self.ltt = self.tape.ltt[lo:hi]
        self._spans: dict[bool, tuple[bytes, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.hi - self.lo

    def _span(self, full: bool) -> tuple[bytes, np.ndarray]:
        """Return the batch's entries in one mode as one blob and offsets (copied once)."""
        span = self._spans.get(full)
        if span is None:
            span = self._spans[full] = self._market.entries(full).span(self.lo, self.hi)
        return span

    def entry(self, j: int, full: bool) -> bytes:
        """Return tick ``j``'s feed entry in full or ltpc mode."""
        blob, offsets = self._span(full)
        return blob[int(offsets[j]) : int(offsets[j + 1])]

    def entries(self, js: np.ndarray, full: bool) -> list[bytes]:
        """Return the feed entries of ticks ``js``, in that order, in full or ltpc mode."""
        blob, offsets = self._span(full)
        starts = offsets[js].tolist()
        ends = offsets[js + 1].tolist()
        return [blob[a:b] for a, b in zip(starts, ends, strict=True)]

    def altered_entry(self, j: int, full: bool, key: str | None, price: float | None) -> bytes:
        """Return tick ``j``'s entry under another key or with another price (fault injection).

        Built by ``EntryEncoder`` from ``Tape.slice``, the reference the pre-encoded entries
        are tested against: with neither override it equals ``entry(j, full)`` once parsed.
        """
        tape = self.tape
        s = tape.slice(self.lo + j, self.lo + j + 1)
        ltp, ltt, ltq, cp = s.ltpc[0]
        parts = tape.full_parts(s, 0) if full else None
        return self._market.encoder.entry_parts(
            key or s.keys[0], (ltp if price is None else price, ltt, ltq, cp), parts
        )


class Market:
    """The tape, how far it has been played, each key's last tick, and the encoded entries."""

    def __init__(self, tape: Tape) -> None:
        self.tape = tape
        self.cursor = 0
        self.encoder = EntryEncoder()
        self._entries: dict[bool, EncodedEntries] = {}
        self._last = np.full(len(tape.symbols), -1, dtype=np.int64)  # symbol -> tick, -1 none

    @property
    def exhausted(self) -> bool:
        """Tell whether every tick has come due."""
        return self.cursor >= len(self.tape)

    @property
    def next_ms(self) -> int | None:
        """Return the exchange time of the next tick to come due, or None."""
        return None if self.exhausted else int(self.tape.ltt[self.cursor])

    def entries(self, full: bool) -> EncodedEntries:
        """Return every tick's entry in full or ltpc mode (encoded on first use, then kept)."""
        encoded = self._entries.get(full)
        if encoded is None:
            encoded = self._entries[full] = EncodedEntries.build(self.tape, full)
        return encoded

    def batch(self, lo: int, hi: int) -> Batch:
        """Return ticks ``lo``..``hi`` as a batch."""
        return Batch(self, lo, hi)

    def _played(self, lo: int, hi: int) -> None:
        """Note ticks ``lo``..``hi`` as their keys' last quotes."""
        # np.unique on the reversed run finds each key's last tick in one pass.
        keys, back = np.unique(self.tape.key_index[lo:hi][::-1], return_index=True)
        self._last[keys] = hi - 1 - back

    def skip_to(self, ms: int) -> None:
        """Play the ticks up to ``ms`` silently: they become the keys' last quotes (snapshots)."""
        hi = self.tape.position(ms)
        if hi <= self.cursor:
            return
        self._played(self.cursor, hi)
        self.cursor = hi

    def take(self, until_ms: int, cap: int) -> tuple[Batch | None, int]:
        """Return the ticks with ``ltt <= until_ms`` (at most about ``cap``) and the time reached.

        When more than ``cap`` ticks are due, stop after a whole instant (never between two
        ticks of one millisecond) and return that instant: the clock is held back to it.
        """
        tape = self.tape
        lo = self.cursor
        hi = tape.position(until_ms)
        reached = until_ms
        if hi - lo > cap:
            reached = int(tape.ltt[lo + cap - 1])
            hi = tape.position(reached)
        if hi <= lo:
            return None, reached
        self._played(lo, hi)
        self.cursor = hi
        return Batch(self, lo, hi), reached

    def snapshot(self, keys: list[str], full: bool, now_ms: int) -> bytes | None:
        """Return an ``initial_feed`` frame of the last quotes of ``keys`` that have traded."""
        index = self.tape.symbol_index
        entries = []
        for key in dict.fromkeys(keys):
            symbol = index.get(key)
            last = -1 if symbol is None else int(self._last[symbol])
            if last >= 0:
                entries.append(self.entries(full).entry(last))
        if not entries:
            return None
        return frame_from_entries(FrameKind.INITIAL_FEED, now_ms, entries)
