"""The local exchange: a websocket server speaking Upstox Market Data Feed V3.

A pump runs every ``pump_interval_s`` of wall time: it reads the simulated clock, takes the
ticks that came due from the market, splits each subscribed client's share into frames and
queues them, followed by a heartbeat (``live_feed`` with no feeds) carrying the current
simulated time, so clients see the clock move at least every 100 ms even when nothing
traded. Each client's writer task sends its queue; see ``client`` for the backpressure rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import signal
import time
from collections.abc import Callable, Coroutine
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from pixity.feeds.journal import JournalWriter
from pixity.feeds.secret import MASK, RedactingLogger, redact
from pixity.feeds.upstox_wire import (
    FrameKind,
    MalformedFrameError,
    Method,
    Mode,
    encode_frame,
    encode_market_info,
    frame_from_entries,
    parse_request,
)
from pixity.feedserver.auth import FEED_PATH, Authorizer
from pixity.feedserver.blackhole import BlackHoleServer
from pixity.feedserver.client import Client
from pixity.feedserver.clock import SimClock, market_status, segment_status
from pixity.feedserver.config import ServerConfig
from pixity.feedserver.market import Batch, Market
from pixity.feedserver.tape import Tape
from pixity.markettime import PRE_OPEN, from_epoch_ms, session_close, to_epoch_ms, to_ist

log = logging.getLogger(__name__)
# websockets logs each request's headers at DEBUG, the Authorization header among them.
_WS_LOG = logging.getLogger("websockets.server")

_CLOSE_WAIT_S = 2.0
_DRAIN_WAIT_S = 5.0


class FeedServer:
    """Serve ``tape`` from simulated time ``start_ms`` as configured by ``config``.

    ``on_send`` (optional) sees every frame sent to any client, for in-process tests.
    """

    def __init__(
        self,
        config: ServerConfig,
        tape: Tape,
        start_ms: int,
        *,
        wall: Callable[[], float] = time.monotonic,
        on_send: Callable[[bytes], None] | None = None,
    ) -> None:
        self.config = config
        self.market = Market(tape)
        self.market.skip_to(start_ms)  # ticks before the start are history: snapshots show them
        self.clock = SimClock(start_ms, config.speed, wall())
        self.counts: dict[str, int] = {}
        self.clients: set[Client] = set()
        self.port = config.port
        self.exit_code = 0
        self._wall = wall
        self._on_send = on_send
        self._numbers = itertools.count(1)
        self._emitted_ms = start_ms
        self._status: str | None = None
        self._close_ms = to_epoch_ms(session_close(from_epoch_ms(tape.last_ms or start_ms).date()))
        self._closing = False
        self._lost_client = False  # a subscribed client's connection has ended
        self._gate = asyncio.Event()
        self._stop = asyncio.Event()
        self._server: Server | BlackHoleServer | None = None
        self._journal: JournalWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._auth = Authorizer(config.require_token, self._base_url, self.counts)

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Return the feed's websocket URL."""
        return f"{self._base_url(None)}{FEED_PATH}"

    @property
    def sim_now_ms(self) -> int:
        """Return the simulated time up to which ticks have been sent, in epoch ms."""
        return self._emitted_ms

    def _base_url(self, host_header: str | None) -> str:
        return f"ws://{host_header}" if host_header else f"ws://{self.config.host}:{self.port}"

    async def start(self) -> None:
        """Bind the socket and start the pump and the timers."""
        if self.config.record is not None:
            self._journal = JournalWriter(self.config.record)
        self._gate.set()
        if self.config.faults.black_hole is not None:
            hole = BlackHoleServer(self.config.faults.black_hole, self.counts)
            await hole.start(self.config.host, self.config.port)
            self._server = hole
        else:
            self._server = await self._serve()
        self.port = int(next(iter(self._server.sockets)).getsockname()[1])
        self._spawn(self._pump_loop())
        self._spawn(self._stats_loop())
        faults = self.config.faults
        if faults.drop_every_s:
            self._spawn(self._drop_loop(faults.drop_every_s))
        if faults.stall_every_s:
            self._spawn(self._stall_loop(faults.stall_every_s, faults.stall_for_s))
        log.info("feed-server listening on %s (speed %g)", self.url, self.config.speed)

    async def _serve(self) -> Server:
        return await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._auth.process_request,
            compression=None,  # deflating 100,000 quotes a second would cost more than sending
            max_size=1 << 20,
            write_limit=1 << 20,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=_CLOSE_WAIT_S,
            logger=self._ws_logger(),
        )

    def _ws_logger(self) -> RedactingLogger:
        token = self.config.require_token

        def scrub(text: str) -> str:
            return redact(text.replace(token, MASK) if token else text)

        return RedactingLogger(_WS_LOG, scrub)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.ensure_future(coro))

    def stop(self, code: int = 0) -> None:
        """Ask the server to shut down; ``run`` returns ``code``."""
        self.exit_code = code
        self._stop.set()

    async def run(self, *, handle_signals: bool = False) -> int:
        """Serve until ``stop`` (or SIGINT/SIGTERM), then shut down cleanly; return the code."""
        if self._server is None:
            await self.start()
        if handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop)
        await self._stop.wait()  # the server's lifetime: ends only by stop()
        await self.shutdown()
        return self.exit_code

    async def shutdown(self) -> None:
        """Close every client with a close frame, stop the tasks, flush the record."""
        for task in self._tasks:
            task.cancel()
        closing = [c.ws.close(1001, "server shutting down") for c in list(self.clients)]
        if closing:
            await asyncio.wait([asyncio.ensure_future(c) for c in closing], timeout=_CLOSE_WAIT_S)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), _CLOSE_WAIT_S * 2)
        if self._journal is not None:
            self._journal.close()
        self._write_stats()
        log.info("feed-server stopped: %s", json.dumps(self.stats(), sort_keys=True))

    # ------------------------------------------------------------ connections

    async def _handle(self, ws: ServerConnection) -> None:
        client = Client(ws, next(self._numbers), self.config.faults, self.counts)
        self.clients.add(client)
        self._count("connections")
        log.info("client %s connected", client)
        writer = asyncio.ensure_future(self._write(client))
        try:
            async for message in ws:
                self._on_request(client, message)
        except ConnectionClosed:
            pass
        except Exception:  # the one catch-all of this I/O boundary
            self._count("handler_errors")
            log.error("client %s: handler failed", client, exc_info=True)
        finally:
            self.clients.discard(client)
            self._lost_client = self._lost_client or bool(client.subs)
            writer.cancel()
            self._update_running()
            log.info("client %s disconnected", client)

    async def _write(self, client: Client) -> None:
        try:
            await client.write_loop(self._gate, self.config.send_timeout_s, self._on_sent)
        except TimeoutError:
            self._drop_slow(client, "a send timed out")
        except ConnectionClosed:
            pass

    def _on_request(self, client: Client, raw: str | bytes) -> None:
        try:
            request = parse_request(raw)
            if request.method is Method.CHANGE_MODE and request.mode is None:
                raise MalformedFrameError("change_mode without a mode")
        except MalformedFrameError as exc:
            self._count("malformed_requests")
            log.warning("client %s: ignoring request (%s): %r", client, exc, raw[:200])
            return
        self._count(f"requests_{request.method.value}")
        if request.method is Method.UNSUB:
            for key in request.keys:
                client.subs.pop(key, None)
        else:
            self._subscribe(client, request.method, request.keys, request.mode or Mode.LTPC)
        self._update_running()

    def _subscribe(self, client: Client, method: Method, keys: tuple[str, ...], mode: Mode) -> None:
        full = mode is not Mode.LTPC
        chosen = [k for k in keys if method is Method.SUB or k in client.subs]
        for key in chosen:
            client.subs[key] = full
        if chosen:
            # The first client of a mode waits while every tick's entry is encoded in it
            # (seconds for a day of 200 keys, once), before the clock starts for it.
            self.market.entries(full)
        now = self._emitted_ms
        frames = []
        if method is Method.SUB and self._lost_client and self.config.resend_s > 0:
            # Before the notice and the snapshot, which are stamped now: sent after them, the
            # resent ticks would be older than the client's clock, late for the bars they
            # belong to, and what was in flight when the lost client died would be lost anyway.
            frames.extend(self._resend(client, now))
            self._lost_client = False  # once per lost client, not on every later request
        if method is Method.SUB and not client.info_sent:
            client.info_sent = True
            self._status = market_status(now)
            frames.append(encode_market_info(now, segment_status(now)))
        snapshot = self.market.snapshot(chosen, full, now)
        if snapshot is not None:
            frames.append(snapshot)
        client.push(frames)

    def _resend(self, client: Client, now: int) -> list[bytes]:
        """Return the recent ticks again, fault-free, for a client that replaces a lost one."""
        window_ms = int(self.config.resend_s * self.config.speed * 1000)
        tape = self.market.tape
        lo, hi = tape.position(now - window_ms), self.market.cursor
        if hi <= lo:
            return []
        batch = self.market.batch(lo, hi)
        self._count("resent_ticks", hi - lo)
        return [
            frame_from_entries(FrameKind.LIVE_FEED, f.ts, f.entries)
            for f in client.tick_frames(batch)
        ]

    def _update_running(self) -> None:
        self.clock.set_running(any(c.subs for c in self.clients), self._wall())

    def _on_sent(self, frame: bytes) -> None:
        self._count("frames_sent")
        self._count("bytes_sent", len(frame))
        if self._journal is not None:
            self._journal.append(frame, time.time_ns())
        if self._on_send is not None:
            self._on_send(frame)

    def _drop_slow(self, client: Client, why: str) -> None:
        self._count("slow_clients_dropped")
        log.warning("client %s: dropping it, %s (%d frames queued)", client, why, len(client.queue))
        client.queue.clear()
        if client.ws.transport is not None:
            client.ws.transport.abort()

    # ------------------------------------------------------------ the pump

    async def _pump_loop(self) -> None:
        interval = self.config.pump_interval_s
        while True:
            started = self._wall()
            self._pump(started)
            await asyncio.sleep(max(0.001, interval - (self._wall() - started)))

    def _pump(self, wall: float) -> None:
        """Send what came due since the last pump to every subscribed client."""
        live = [c for c in self.clients if c.subs]
        if not live or self._closing:
            return
        batch = None
        if self._held_back(live, wall):
            self.clock.rebase(self._emitted_ms, wall)
        else:
            target = self._skip_night(self.clock.now_ms(wall), wall)
            batch, reached = self.market.take(target, self.config.max_batch)
            if reached < target:
                self.clock.rebase(reached, wall)
                self._count("pumps_behind")
            self._emitted_ms = max(self._emitted_ms, reached)
        if batch is not None:
            self._count("ticks_due", len(batch))
        now = self._emitted_ms
        status = market_status(now)
        info = None
        if status != self._status:
            self._status = status
            info = encode_market_info(now, segment_status(now))
            log.info("market status %s at %s", status, from_epoch_ms(now).isoformat())
        if not self._gate.is_set():
            self._count("stall_skipped_ticks", len(batch) if batch else 0)
        else:
            heartbeat = encode_frame(FrameKind.LIVE_FEED, now, (), Mode.LTPC)
            for client in live:
                self._send_due(client, batch, info, status, heartbeat)
        if self.config.exit_at_close and self.market.exhausted and now >= self._close_ms:
            self._closing = True
            self._spawn(self._close_at_end())

    def _send_due(
        self, client: Client, batch: Batch | None, info: bytes | None, status: str, heartbeat: bytes
    ) -> None:
        frames: list[bytes] = []
        if batch is not None:
            ticks = client.tick_frames(batch)
            self._count("quotes_queued", sum(len(f.ticks) for f in ticks))
            frames = client.faults.serialize(ticks, batch.altered_entry)
        if info is not None and client.info_sent:
            # The open notice goes before the first ticks; the close notice after the last.
            frames = [*frames, info] if status == "NORMAL_CLOSE" else [info, *frames]
        frames.append(heartbeat)
        client.push(frames)

    def _held_back(self, live: list[Client], wall: float) -> bool:
        """Tell whether a client's queue is too long to add to; drop one behind too long."""
        held = False
        for client in live:
            if len(client.queue) <= self.config.queue_high:
                client.behind_since = None
            elif client.behind_since is None:
                client.behind_since = wall
                held = True
            elif wall - client.behind_since > self.config.slow_grace_s:
                self._drop_slow(client, f"behind for over {self.config.slow_grace_s:g} s")
            else:
                held = True
        return held

    def _skip_night(self, target: int, wall: float) -> int:
        """Jump over the night to 09:00 of the next replayed day once the session is over."""
        next_ms = self.market.next_ms
        if next_ms is None or target < self._day_close(target) or next_ms <= target:
            return target
        day = from_epoch_ms(next_ms).date()
        if day <= from_epoch_ms(target).date():
            return target
        pre_open = to_epoch_ms(to_ist(session_close(day)).replace(hour=PRE_OPEN.hour, minute=0))
        self.clock.jump(min(next_ms, pre_open), wall)
        return self.clock.now_ms(wall)

    @staticmethod
    def _day_close(ms: int) -> int:
        return to_epoch_ms(session_close(from_epoch_ms(ms).date()))

    async def _close_at_end(self) -> None:
        """Let the last frames go out (bounded), then stop with exit code 0."""
        log.info("session over and no ticks left: exiting (--exit-at-close)")
        deadline = self._wall() + _DRAIN_WAIT_S
        while any(c.queue for c in self.clients) and self._wall() < deadline:
            await asyncio.sleep(0.02)
        self.stop(0)

    # ------------------------------------------------------------ timers

    async def _drop_loop(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            for client in list(self.clients):
                if client.ws.transport is not None:
                    client.ws.transport.abort()  # TCP close, no close frame: like a lost link
                    self._count("drops")
            log.info("fault: dropped every connection")

    async def _stall_loop(self, every_s: float, for_s: float) -> None:
        while True:
            await asyncio.sleep(every_s - for_s)
            self._gate.clear()
            self._count("stalls")
            log.info("fault: stalling for %g s", for_s)
            await asyncio.sleep(for_s)
            self._gate.set()

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.stats_every_s)
            self._write_stats()

    # ------------------------------------------------------------ stats

    def _count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def stats(self) -> dict[str, object]:
        """Return the counters and where the market stands, for --stats and the exit log."""
        now = from_epoch_ms(self._emitted_ms)
        return {
            **self.counts,
            "sim_now": now.isoformat(),
            "sim_now_ms": self._emitted_ms,
            "clients": len(self.clients),
            "tape_ticks": len(self.market.tape),
            "tape_position": self.market.cursor,
            "speed": self.config.speed,
            "port": self.port,
        }

    def _write_stats(self) -> None:
        path = self.config.stats
        if path is None:
            return
        tmp = path.with_suffix(path.suffix + ".tmp")
        try:
            tmp.write_text(json.dumps(self.stats(), sort_keys=True, indent=1))
            tmp.replace(path)
        except OSError:
            log.warning("cannot write stats to %s", path, exc_info=True)
