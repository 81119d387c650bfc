"""The Upstox Market Data Feed V3 client: connect, subscribe, hand on raw frames, reconnect.

``UpstoxFeed.run`` keeps one websocket open until ``stop`` is set: it obtains the URI
(``upstox_auth``), connects, sends one ``sub`` request per 1000 keys, passes every binary
frame untouched to ``FeedEvents.on_frame``, and when the connection ends reconnects after a
full-jitter exponential backoff, subscribing every key again. Decoding is the consumer's job.

A watchdog recycles a connection that has delivered nothing for ``silence_s`` while the
market is open; websockets' keepalive pings close one whose peer stopped answering.

Errors: connection failures (network, handshake, timeouts, HTTP status, a rejected token)
are counted, reported in ``status()`` and retried. An exception from a ``FeedEvents``
callback is logged and counted and the feed goes on, except a ``PixityError`` whose policy
is STOP: then the connection is closed and ``run`` re-raises it. The access token, and the
one-time code of an authorized URI, never reach a log, an exception or ``status()``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from pixity.clock import Clock
from pixity.domain import FeedState
from pixity.errors import PixityError, Policy, TransientFeedError
from pixity.feeds.secret import RedactingLogger, redact
from pixity.feeds.upstox_auth import (
    TOKEN_HINT,
    EndpointKind,
    FeedEndpoint,
    TokenRejectedError,
    authorize,
    host_of,
)
from pixity.feeds.upstox_config import (
    MAX_KEYS,
    SUBSCRIBE_CHUNK,
    FeedHealth,
    UpstoxFeedConfig,
    Watchdog,
    backoff_delay,
    chunks,
)
from pixity.feeds.upstox_wire import Method, build_request

__all__ = [
    "MAX_KEYS",
    "SUBSCRIBE_CHUNK",
    "FeedEvents",
    "FeedHealth",
    "UpstoxFeed",
    "UpstoxFeedConfig",
    "Watchdog",
    "backoff_delay",
]

log = logging.getLogger(__name__)
# websockets logs handshake headers at DEBUG: it gets this logger, wrapped in a redactor.
_WS_LOG = logging.getLogger(__name__ + ".ws")

# The journal's record limit; Upstox full-mode frames are far smaller.
MAX_FRAME_BYTES = 16 * 1024 * 1024

# Connection failures worth a retry. OSError covers refused/reset sockets and TimeoutError.
_RETRYABLE = (OSError, WebSocketException, TransientFeedError)


class FeedEvents(Protocol):
    """What the feed tells its consumer. Called on the event loop; must not block."""

    def on_frame(self, raw: bytes, received_ns: int) -> None:
        """Take one binary frame, in arrival order, with its wall-clock receive time."""

    def on_connected(self, at: datetime) -> None:
        """Note a fresh connection, after its subscription was sent."""

    def on_disconnected(self, at: datetime, reason: str) -> None:
        """Note the end of a connection that ``on_connected`` announced."""


class UpstoxFeed:
    """One Upstox V3 market-data connection, kept alive until told to stop."""

    def __init__(
        self,
        config: UpstoxFeedConfig,
        events: FeedEvents,
        *,
        clock: Clock,
        market_open: Callable[[], bool],
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._events = events
        self._clock = clock
        self._market_open = market_open
        self._rng = rng or random.Random()
        self._endpoint = FeedEndpoint.from_feed_url(config.feed_url)
        self._ws_log = RedactingLogger(_WS_LOG, self._redact)
        # The feed's own messages are masked too: a consumer's exception may quote anything.
        self._log = RedactingLogger(log, self._redact)
        self._running = False
        self._state = FeedState.DISCONNECTED
        self._watchdog = Watchdog.OK
        self._last_error: str | None = None
        self._last_ns: int | None = None
        self._last_mono: float | None = None  # last frame, or connection start
        self._open_since = 0.0  # the watchdog last saw the market closed at this time
        self._reconnects = 0
        self._frames = 0
        self._text_messages = 0
        self._handler_errors = 0
        self._connect_failures = 0
        self._token_rejections = 0
        self._recycles = 0

    # ------------------------------------------------------------ public

    def status(self) -> FeedHealth:
        """Return a snapshot of the feed's state and counters."""
        connected = self._state is FeedState.CONNECTED
        silence = None
        if connected and self._last_mono is not None:
            silence = round(time.monotonic() - self._last_mono, 3)
        last_at = None
        if self._last_ns is not None:
            last_at = datetime.fromtimestamp(self._last_ns / 1e9, tz=UTC)
        return FeedHealth(
            state=self._state,
            connected=connected,
            reconnects=self._reconnects,
            last_message_at=last_at,
            last_error=self._last_error,
            watchdog=self._watchdog,
            silence_s=silence,
            frames=self._frames,
            text_messages=self._text_messages,
            handler_errors=self._handler_errors,
            connect_failures=self._connect_failures,
            token_rejections=self._token_rejections,
            recycles=self._recycles,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, subscribe and receive, reconnecting, until ``stop`` is set.

        Return within about ``close_timeout_s`` of ``stop`` being set. Raise a STOP-policy
        ``PixityError`` that a ``FeedEvents`` callback raised, after closing the connection.
        """
        if self._running:
            raise RuntimeError("UpstoxFeed.run is already running")
        self._running = True
        attempt = 0
        try:
            while not stop.is_set():
                good = await self._until_stopped(stop)
                if good is None or stop.is_set():
                    return
                attempt = 0 if good else attempt + 1
                delay = self.backoff(attempt)
                self._log.info("feed reconnecting to %s in %.2fs", self._endpoint.host, delay)
                if await _wait_for(stop, delay):
                    return
                self._reconnects += 1
        finally:
            self._state = FeedState.STOPPED
            self._running = False

    def backoff(self, attempt: int) -> float:
        """Return the delay before reconnect attempt ``attempt`` (0 after a good connection)."""
        cfg = self._config
        return backoff_delay(
            attempt, initial_s=cfg.backoff_initial_s, max_s=cfg.backoff_max_s, rng=self._rng
        )

    # ------------------------------------------------------------ one connection

    async def _until_stopped(self, stop: asyncio.Event) -> bool | None:
        """Run one session; cancel it if ``stop`` comes first. Return None when stopped."""
        session = asyncio.create_task(self._session(), name="upstox-session")
        stopper = asyncio.create_task(stop.wait(), name="upstox-stop")
        try:
            await asyncio.wait({session, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not session.done():
                # Cancelling closes the socket (bounded by close_timeout) and reports it.
                session.cancel()
                await asyncio.wait({session}, timeout=self._config.close_timeout_s + 1.0)
        if session.cancelled() or not session.done():
            return None
        return session.result()

    async def _session(self) -> bool:
        """Connect, subscribe and receive until the connection ends; tell if it was good.

        A good connection delivered data and stayed up for ``stable_s`` (or ``backoff_max_s``
        if shorter): only that resets the backoff, so a server that accepts, sends its
        market_info and hangs up is not hammered several times a second. The window is not
        ``backoff_max_s`` itself: then a link that drops every 30 s would never count as
        good, and its waits would grow to the 30 s cap: disconnected half the time.
        """
        self._state = FeedState.CONNECTING
        frames_before = self._frames
        started = time.monotonic()
        connected = False
        reason = "stopped"
        try:
            uri, headers = await self._target()
            async with self._connect(uri, headers) as ws:
                await self._subscribe(ws)
                connected = True
                self._connected(uri)
                reason = await self._serve(ws)
        except _RETRYABLE as exc:
            reason = self._failed(exc, connected)
        except PixityError as exc:
            reason = self._redact(f"{type(exc).__name__}: {exc}")
            self._last_error = reason
            raise
        finally:
            if connected:
                if self._running:  # an orphaned session must not undo run()'s STOPPED
                    self._state = FeedState.DISCONNECTED
                self._log.info("feed disconnected from %s: %s", self._endpoint.host, reason)
                if reason != "stopped":
                    self._last_error = reason
                self._notify(
                    "on_disconnected", self._events.on_disconnected, self._clock.now(), reason
                )
            elif self._state is FeedState.CONNECTING and self._running:
                self._state = FeedState.DISCONNECTED
        lasted = time.monotonic() - started
        stable = min(self._config.stable_s, self._config.backoff_max_s)
        return self._frames > frames_before and lasted >= stable

    def _connect(self, uri: str, headers: dict[str, str] | None) -> connect:
        """Return the websocket connector: every wait bounded, logs through the redactor."""
        return connect(
            uri,
            additional_headers=headers,
            open_timeout=self._config.open_timeout_s,
            ping_interval=self._config.ping_interval_s,
            ping_timeout=self._config.ping_timeout_s,
            close_timeout=self._config.close_timeout_s,
            max_size=MAX_FRAME_BYTES,
            logger=self._ws_log,
        )

    async def _target(self) -> tuple[str, dict[str, str] | None]:
        """Return the websocket URI and headers for a new connection."""
        if self._endpoint.kind is EndpointKind.DIRECT:
            bearer = self._config.token.reveal()
            return self._endpoint.url, {"Authorization": f"Bearer {bearer}"}
        uri = await authorize(self._endpoint.url, self._config.token, self._config.open_timeout_s)
        return uri, None

    async def _subscribe(self, ws: ClientConnection) -> None:
        """Send one ``sub`` request per chunk of keys, as binary frames, within a bound."""
        async with asyncio.timeout(self._config.open_timeout_s):
            for chunk in chunks(self._config.keys):
                await ws.send(build_request(Method.SUB, chunk, self._config.mode))

    def _connected(self, uri: str) -> None:
        self._state = FeedState.CONNECTED
        self._last_mono = time.monotonic()
        self._open_since = 0.0
        self._log.info(
            "feed connected to %s: subscribed %d keys in %s mode",
            host_of(uri),
            len(self._config.keys),
            self._config.mode.value,
        )
        self._notify("on_connected", self._events.on_connected, self._clock.now())

    async def _serve(self, ws: ClientConnection) -> str:
        """Receive until the connection ends or the watchdog recycles it; return why."""
        receiver = asyncio.create_task(self._receive(ws), name="upstox-receive")
        watchdog = asyncio.create_task(self._watch(), name="upstox-watchdog")
        try:
            done, _ = await asyncio.wait({receiver, watchdog}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (receiver, watchdog):
                task.cancel()
            await asyncio.gather(receiver, watchdog, return_exceptions=True)
        # The receiver's result wins a tie: its exception (a STOP from a handler) matters more.
        first = receiver if receiver in done else watchdog
        return first.result()

    async def _receive(self, ws: ClientConnection) -> str:
        """Hand every frame to ``on_frame`` until the connection closes; return why it did."""
        while True:
            try:
                message = await ws.recv()
            except ConnectionClosed as exc:
                return _closed_reason(exc)
            received_ns = time.time_ns()
            if isinstance(message, str):
                self._text_messages += 1
                self._log.warning(
                    "feed sent a text message (%d chars); Upstox sends only binary frames",
                    len(message),
                )
                continue
            self._deliver(message, received_ns)

    def _deliver(self, raw: bytes, received_ns: int) -> None:
        self._frames += 1
        self._last_ns = received_ns
        self._last_mono = time.monotonic()
        if self._watchdog is not Watchdog.OK:
            self._log.info("feed data flowing again")
            self._watchdog = Watchdog.OK
        self._notify("on_frame", self._events.on_frame, raw, received_ns, size=len(raw))

    def _notify(
        self, name: str, handler: Callable[..., None], *args: Any, size: int | None = None
    ) -> None:
        """Call a consumer callback: the one catch-all at this I/O boundary."""
        try:
            handler(*args)
        except PixityError as exc:
            if exc.policy is Policy.STOP:
                raise
            self._handler_failed(name, size)
        except Exception:  # noqa: BLE001 - a consumer bug must not end the feed; it is counted
            self._handler_failed(name, size)

    def _handler_failed(self, name: str, size: int | None) -> None:
        self._handler_errors += 1
        what = f" on a {size}-byte frame" if size is not None else ""
        self._log.error("feed consumer's %s failed%s; the feed goes on", name, what, exc_info=True)

    async def _watch(self) -> str:
        """Return a reason to recycle once the feed is silent while the market is open."""
        period = min(self._config.silence_s / 4, 1.0)
        while True:
            await asyncio.sleep(period)
            reason = self._check_silence()
            if reason is not None:
                self._recycles += 1
                return reason

    def _check_silence(self) -> str | None:
        now = time.monotonic()
        last = self._last_mono if self._last_mono is not None else now
        limit = self._config.silence_s
        if not self._market_open():
            # Silence only counts while the market is open: restart the count from here.
            self._open_since = now
            self._watchdog = Watchdog.IDLE_MARKET if now - last >= limit else Watchdog.OK
            return None
        quiet = now - max(last, self._open_since)
        if quiet < limit:
            if self._watchdog is Watchdog.IDLE_MARKET:
                self._watchdog = Watchdog.OK
            return None
        if self._watchdog is not Watchdog.SILENT:
            self._log.warning(
                "feed silent for %.1fs while the market is open; recycling the connection",
                quiet,
            )
        self._watchdog = Watchdog.SILENT
        return f"watchdog: no frame for {quiet:.1f}s while the market is open"

    def _failed(self, exc: BaseException, connected: bool) -> str:
        """Count and describe a connection failure, without any secret."""
        if isinstance(exc, TokenRejectedError) or (
            isinstance(exc, InvalidStatus) and exc.response.status_code in (401, 403)
        ):
            self._token_rejections += 1
        if isinstance(exc, InvalidStatus):
            code = exc.response.status_code
            reason = f"feed refused the websocket upgrade: HTTP {code}"
            if code in (401, 403):
                reason = f"token rejected by {self._endpoint.host} (HTTP {code}): {TOKEN_HINT}"
        elif isinstance(exc, TimeoutError):
            reason = f"timed out after {self._config.open_timeout_s}s opening the feed"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        reason = self._redact(reason)
        if not connected:
            self._connect_failures += 1
        self._last_error = reason
        self._log.warning("feed connection to %s failed: %s", self._endpoint.host, reason)
        return reason

    def _redact(self, text: str) -> str:
        return redact(text, (self._config.token,))


def _closed_reason(exc: ConnectionClosed) -> str:
    """Describe a closed connection (code and reason as the peer gave them)."""
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "connection lost without a close frame"
    text = f": {frame.reason}" if frame.reason else ""
    return f"closed with code {frame.code}{text}"


async def _wait_for(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for ``event``; tell whether it was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout_s)
    except TimeoutError:
        return event.is_set()
    return True
