"""One connected client: its subscriptions, its bounded outgoing queue, and its writer.

Frames for a client are queued by the server's pump and sent by the client's own writer
task, so a slow client only ever delays itself. The queue is bounded by the server: while a
client's queue is above the high-water mark the pump holds the market back, and a client
that stays behind past its grace (or cannot take a send within the timeout) is
disconnected and counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

import numpy as np
from websockets.asyncio.server import ServerConnection

from pixity.feedserver.faults import FaultConfig, FaultInjector, TickFrame
from pixity.feedserver.market import Batch

log = logging.getLogger(__name__)

_SEND_CHUNK = 256  # frames sent under one timeout
# How much exchange time one window of frames spans (see ``Client.tick_frames``): packing
# more instruments into each frame cuts the per-frame cost on both ends of the wire.
FRAME_SPAN_MS = 500


class Client:
    """A connection's state: ``subs`` maps instrument key -> full mode (True) or ltpc."""

    def __init__(
        self,
        ws: ServerConnection,
        number: int,
        faults: FaultConfig,
        counts: dict[str, int],
    ) -> None:
        self.ws = ws
        self.number = number
        self.subs: dict[str, bool] = {}
        self.info_sent = False
        self.behind_since: float | None = None
        self.queue: deque[bytes] = deque()
        self.faults = FaultInjector(faults, counts, stream=number)
        self._wakeup = asyncio.Event()

    def __repr__(self) -> str:
        return f"Client#{self.number}({self.ws.remote_address})"

    def push(self, frames: list[bytes]) -> None:
        """Queue frames to send, in order."""
        if frames:
            self.queue.extend(frames)
            self._wakeup.set()

    def tick_frames(self, batch: Batch) -> list[TickFrame]:
        """Split the client's share of ``batch`` into frames holding each key at most once.

        Ticks are packed into frames the way a broker's frame carries many instruments: a
        tick goes into the first frame after the one holding its key's previous tick, among
        the frames of the current window of at most ``FRAME_SPAN_MS`` of exchange time. So
        each key's ticks arrive in order, windows arrive in time order, and within a window
        one key's tick may come a frame after another key's later one, never more than
        ``FRAME_SPAN_MS`` earlier than a time already sent (below any bar grace that
        consumers use). Each frame's ``currentTs`` is the newest tick time sent so far.

        Vectorised: a window opens at the first tick past the previous window's end, and
        the ``n``-th tick of a key within a window goes into the window's ``n``-th frame.
        """
        tape = batch.tape
        modes = np.full(len(tape.symbols), -1, dtype=np.int8)  # -1 not subscribed, 1 full
        index = tape.symbol_index
        for key, full in self.subs.items():
            symbol = index.get(key)
            if symbol is not None:
                modes[symbol] = full
        tick_modes = modes[batch.key_index]
        js = np.flatnonzero(tick_modes >= 0)
        if not len(js):
            return []
        ts = batch.ltt[js]
        frame_of, count = _pack(ts, batch.key_index[js], len(modes))
        order = np.argsort(frame_of, kind="stable")  # by frame, each frame in tick order
        js = js[order]
        in_full = tick_modes[js] > 0
        entries = _entries(batch, js, in_full)
        ticks = js.tolist()
        fulls = in_full.tolist()
        ends = np.cumsum(np.bincount(frame_of, minlength=count))
        # A frame's time is its newest tick's, its last; the clock a frame carries never
        # goes back.
        stamps = np.maximum.accumulate(ts[order][ends - 1]).tolist()
        frames = []
        lo = 0
        for hi, stamp in zip(ends.tolist(), stamps, strict=True):
            frames.append(TickFrame(stamp, entries[lo:hi], ticks[lo:hi], fulls[lo:hi]))
            lo = hi
        return frames

    async def write_loop(
        self,
        gate: asyncio.Event,
        send_timeout_s: float,
        on_sent: Callable[[bytes], None],
    ) -> None:
        """Send queued frames until the connection ends; ``gate`` closed = stalled.

        Raises ``TimeoutError`` when a chunk of frames cannot be sent within the timeout.
        """
        queue = self.queue
        while True:
            if not queue:
                self._wakeup.clear()
                await _wait(self._wakeup, 1.0)
                continue
            if not gate.is_set():
                await _wait(gate, 1.0)
                continue
            async with asyncio.timeout(send_timeout_s):
                for _ in range(min(_SEND_CHUNK, len(queue))):
                    frame = queue.popleft()
                    await self.ws.send(frame)
                    on_sent(frame)


def _pack(ts: np.ndarray, keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, int]:
    """Return each tick's frame number (as ``Client.tick_frames`` packs them) and the count.

    ``ts`` is in time order; ``keys`` are the ticks' symbol numbers (below ``n_keys``).
    """
    n = len(ts)
    after = np.searchsorted(ts, ts + FRAME_SPAN_MS, side="right").tolist()
    opens = []  # each window's first tick: the first one past the last window's end
    i = 0
    while i < n:
        opens.append(i)
        i = after[i]
    window = np.zeros(n, dtype=np.int64)
    window[opens[1:]] = 1
    np.cumsum(window, out=window)
    # The rank of each tick among its key's ticks in its window: its frame in the window.
    group = window * n_keys + keys
    by_group = np.argsort(group, kind="stable")
    sorted_group = group[by_group]
    heads = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[by_group] = np.arange(n) - np.repeat(heads, np.diff(np.r_[heads, n]))
    frames_in = np.maximum.reduceat(rank, opens) + 1
    first_frame = np.cumsum(frames_in) - frames_in
    return first_frame[window] + rank, int(frames_in.sum())


def _entries(batch: Batch, js: np.ndarray, full: np.ndarray) -> list[bytes]:
    """Return the entries of ticks ``js`` of ``batch``, each in its mode (``full``)."""
    if full.all() or not full.any():
        return batch.entries(js, bool(full[0]))
    out: list[bytes] = [b""] * len(js)
    for mode in (True, False):
        where = np.flatnonzero(full == mode)
        for at, entry in zip(where.tolist(), batch.entries(js[where], mode), strict=True):
            out[at] = entry
    return out


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    """Wait for ``event`` at most ``timeout_s`` seconds (then the caller looks again)."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        pass
