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

        A frame is closed when a key it already holds comes again, so frames stay in time
        order; each frame's ``currentTs`` is its newest tick's time.
        """
        subs = self.subs
        keys = batch.slice.keys
        ltt = batch.slice.ltt
        frames: list[TickFrame] = []
        frame: TickFrame | None = None
        seen: set[str] = set()
        for j, key in enumerate(keys):
            full = subs.get(key)
            if full is None:
                continue
            if frame is None or key in seen:
                frame = TickFrame(ltt[j])
                frames.append(frame)
                seen = set()
            seen.add(key)
            frame.entries.append(batch.entry(j, full))
            frame.items.append((j, full))
            frame.ts = ltt[j]
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
