"""The exchange's side of the feed: which ticks are due, and their encoded feed entries.

One ``Market`` serves every client: it walks the tape as the simulated clock advances,
remembers each key's last tick (for ``initial_feed`` snapshots), and encodes each due tick
at most once per mode however many clients want it (``Batch.entry``).
"""

from __future__ import annotations

import numpy as np

from pixity.feeds.upstox_wire import EntryEncoder, FrameKind, frame_from_entries
from pixity.feedserver.tape import Slice, Tape


class Batch:
    """The ticks that came due together, in time order, with lazily encoded entries."""

    __slots__ = ("_encoder", "_full", "_ltpc", "_tape", "slice")

    def __init__(self, tape: Tape, tape_slice: Slice, encoder: EntryEncoder) -> None:
        self.slice = tape_slice
        self._tape = tape
        self._encoder = encoder
        self._ltpc: list[bytes | None] = [None] * len(tape_slice.keys)
        self._full: list[bytes | None] = [None] * len(tape_slice.keys)

    def __len__(self) -> int:
        return len(self.slice.keys)

    def entry(self, j: int, full: bool) -> bytes:
        """Return tick ``j``'s feed entry in full or ltpc mode (encoded once, then shared)."""
        cache = self._full if full else self._ltpc
        data = cache[j]
        if data is None:
            s = self.slice
            if full:
                ltpc = s.ltpc[j]
                data = self._encoder.entry_full(
                    s.keys[j], ltpc, s.vtt[j], s.atp[j], self._tape.depth(ltpc[0]), s.i1[j], s.d1[j]
                )
            else:
                data = self._encoder.entry_parts(s.keys[j], s.ltpc[j], None)
            cache[j] = data
        return data

    def altered_entry(self, j: int, full: bool, key: str | None, price: float | None) -> bytes:
        """Return tick ``j``'s entry under another key or with another price (fault injection)."""
        s = self.slice
        ltp, ltt, ltq, cp = s.ltpc[j]
        parts = self._tape.full_parts(s, j) if full else None
        return self._encoder.entry_parts(
            key or s.keys[j], (ltp if price is None else price, ltt, ltq, cp), parts
        )


class Market:
    """The tape, how far it has been played, and each key's last tick."""

    def __init__(self, tape: Tape) -> None:
        self.tape = tape
        self.cursor = 0
        self.encoder = EntryEncoder()
        self._last: dict[str, int] = {}

    @property
    def exhausted(self) -> bool:
        """Tell whether every tick has come due."""
        return self.cursor >= len(self.tape)

    @property
    def next_ms(self) -> int | None:
        """Return the exchange time of the next tick to come due, or None."""
        return None if self.exhausted else int(self.tape.ltt[self.cursor])

    def skip_to(self, ms: int) -> None:
        """Play the ticks up to ``ms`` silently: they become the keys' last quotes (snapshots)."""
        hi = self.tape.position(ms)
        if hi <= self.cursor:
            return
        played = self.tape.key_index[self.cursor : hi]
        # np.unique on the reversed run finds each key's last tick in one pass.
        keys, back = np.unique(played[::-1], return_index=True)
        for key, offset in zip(keys.tolist(), back.tolist(), strict=True):
            self._last[self.tape.symbols[key]] = hi - 1 - offset
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
        tape_slice = tape.slice(lo, hi)
        last = self._last
        for j, key in enumerate(tape_slice.keys, start=lo):
            last[key] = j
        self.cursor = hi
        return Batch(tape, tape_slice, self.encoder), reached

    def snapshot(self, keys: list[str], full: bool, now_ms: int) -> bytes | None:
        """Return an ``initial_feed`` frame of the last quotes of ``keys`` that have traded."""
        entries = []
        for key in dict.fromkeys(keys):
            index = self._last.get(key)
            if index is not None:
                one = Batch(self.tape, self.tape.slice(index, index + 1), self.encoder)
                entries.append(one.entry(0, full))
        if not entries:
            return None
        return frame_from_entries(FrameKind.INITIAL_FEED, now_ms, entries)
