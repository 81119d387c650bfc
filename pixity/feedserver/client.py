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
        """
        subs = self.subs
        keys = batch.slice.keys
        ltt = batch.slice.ltt
        frames: list[TickFrame] = []
        base = 0  # the current window's first frame
        window_end = -1  # ticks up to this exchange time join the current window
        last: dict[str, int] = {}  # key -> frame of its newest tick in the window
        for j, key in enumerate(keys):
            full = subs.get(key)
            if full is None:
                continue
            ts = ltt[j]
            if ts > window_end:
                base, window_end = len(frames), ts + FRAME_SPAN_MS
                last = {}
            i = last.get(key, base - 1) + 1
            if i == len(frames):
                frames.append(TickFrame(ts))
            frame = frames[i]
            frame.entries.append(batch.entry(j, full))
            frame.items.append((j, full))
            if ts > frame.ts:
                frame.ts = ts
            last[key] = i
        newest = 0
        for frame in frames:  # the clock a frame carries never goes back
            if frame.ts < newest:
                frame.ts = newest
            newest = frame.ts
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


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    """Wait for ``event`` at most ``timeout_s`` seconds (then the caller looks again)."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        pass
