"""Local stand-ins for Upstox in the feed adapter's tests: real sockets, the real wire format.

``FakeFeed`` is a websockets server speaking Upstox V3 (``pixity.feeds.upstox_wire``); each
connection follows a ``Plan`` (how many frames, then hold, close or abort). ``FakeAuthorize``
is the authorize HTTP endpoint; ``BlackHole`` accepts TCP and never answers the handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response

from pixity.feeds.upstox import UpstoxFeed
from pixity.feeds.upstox_wire import (
    FrameKind,
    Mode,
    Quote,
    Request,
    encode_frame,
    parse_request,
)

TOKEN = "tok-SECRET-5f1e9c2a7b"  # distinctive, so a leak anywhere is easy to find
KEYS = ("NSE_EQ|INE155A01022", "NSE_EQ|INE002A01018", "NSE_INDEX|Nifty 50")

_SERVER_LOG = logging.getLogger("tests.fakeupstox")
# The fake server legitimately sees the token; keep its DEBUG handshake logs out of caplog.
_SERVER_LOG.setLevel(logging.WARNING)


def frame(seq: int, keys: tuple[str, ...] = KEYS) -> bytes:
    """Return a live_feed frame whose ``currentTs`` is ``seq`` (to check order)."""
    quotes = [
        Quote(key=k, ltp=100.0 + seq, ltt_ms=1_700_000_000_000 + seq, ltq=1, close_price=99.0)
        for k in keys
    ]
    return encode_frame(FrameKind.LIVE_FEED, seq, quotes, Mode.FULL)


@dataclass
class Plan:
    """What one connection does after the first ``sub`` request."""

    frames: int = 3
    interval_s: float = 0.01
    then: str = "hold"  # hold (open, silent, answering pings) | close | abort | deaf
    text_first: bool = False


@dataclass
class Conn:
    """What the server saw on one connection."""

    path: str
    authorization: str | None
    requests: list[Request] = field(default_factory=list)
    binary: list[bool] = field(default_factory=list)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def keys(self) -> list[str]:
        """Return every key subscribed on this connection, in order."""
        return [k for r in self.requests for k in r.keys]


class FakeFeed:
    """A local Upstox V3 market-data websocket server."""

    def __init__(
        self,
        plans: Callable[[int], Plan] = lambda n: Plan(),
        *,
        reject_status: int | None = None,
    ) -> None:
        self.plans = plans
        self.reject_status = reject_status
        self.conns: list[Conn] = []
        self.handshakes = 0
        self._server: Server | None = None

    @property
    def url(self) -> str:
        """Return the ws:// URL of the server."""
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/v3/feed/market-data-feed"

    async def __aenter__(self) -> FakeFeed:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            logger=_SERVER_LOG,
            close_timeout=0.5,  # bounds shutting down a connection that stopped reading
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await asyncio.wait_for(self._server.wait_closed(), 5)

    def _process_request(self, ws: ServerConnection, request: HttpRequest) -> Response | None:
        self.handshakes += 1
        if self.reject_status is not None:
            status = HTTPStatus(self.reject_status)
            return Response(status.value, status.phrase, Headers(), b"rejected\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        conn = Conn(path=ws.request.path, authorization=ws.request.headers.get("Authorization"))
        self.conns.append(conn)
        plan = self.plans(len(self.conns) - 1)
        reader = asyncio.create_task(_read_requests(ws, conn))
        subscribed = asyncio.create_task(conn.subscribed.wait())
        try:
            # A client may go away before it subscribes (a test ending as the feed reconnects):
            # then the reader ends and so does this handler, or the server's close would wait
            # out the whole bound for a subscription that cannot come.
            await asyncio.wait({subscribed, reader}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
            if not conn.subscribed.is_set():
                return
            if plan.text_first:
                await ws.send("hello")
            for seq in range(plan.frames):
                await ws.send(frame(seq))
                await asyncio.sleep(plan.interval_s)
            if plan.then == "abort":
                ws.transport.abort()
            elif plan.then == "close":
                await ws.close(1001, "going away")
            elif plan.then == "deaf":
                ws.transport.pause_reading()  # stops answering pings too
            await reader
        finally:
            reader.cancel()
            subscribed.cancel()


async def _read_requests(ws: ServerConnection, conn: Conn) -> None:
    with contextlib.suppress(Exception):
        async for message in ws:
            conn.binary.append(isinstance(message, bytes))
            conn.requests.append(parse_request(message))
            conn.subscribed.set()


class FakeAuthorize:
    """The authorize endpoint, on a thread: answers ``status`` with ``ws_url`` as Upstox does."""

    def __init__(self, ws_url: str, status: int = 200) -> None:
        self.ws_url = ws_url
        self.status = status
        self.calls: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.calls.append(dict(self.headers.items()))
                if outer.status != 200:
                    body = json.dumps({"status": "error", "errors": [{"message": "Invalid"}]})
                else:
                    uri = f"{outer.ws_url}?requestId=r-1&code=CODE-{len(outer.calls)}-x9"
                    body = json.dumps({"status": "success", "data": {"authorizedRedirectUri": uri}})
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Return the authorize URL."""
        return f"http://127.0.0.1:{self._httpd.server_port}/v3/feed/market-data-feed/authorize"

    def __enter__(self) -> FakeAuthorize:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


class BlackHole:
    """A TCP server that accepts connections and never answers."""

    def __init__(self) -> None:
        self.accepted = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> BlackHole:
        self._server = await asyncio.start_server(self._swallow, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    @property
    def url(self) -> str:
        """Return a ws:// URL pointing at the hole."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/feed"

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        with contextlib.suppress(Exception):
            while await reader.read(4096):
                pass
        writer.close()


class Recorder:
    """A ``FeedEvents`` that collects what it is told; optionally raises from on_frame."""

    def __init__(self, fail: Callable[[int], BaseException | None] = lambda n: None) -> None:
        self.frames: list[tuple[bytes, int]] = []
        self.connected: list[datetime] = []
        self.disconnected: list[tuple[datetime, str]] = []
        self.order: list[str] = []
        self._fail = fail

    def on_frame(self, raw: bytes, received_ns: int) -> None:
        self.frames.append((raw, received_ns))
        error = self._fail(len(self.frames))
        if error is not None:
            raise error

    def on_connected(self, at: datetime) -> None:
        self.connected.append(at)
        self.order.append("connected")

    def on_disconnected(self, at: datetime, reason: str) -> None:
        self.disconnected.append((at, reason))
        self.order.append("disconnected")


async def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait until ``check()`` is true, polling; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(feed: UpstoxFeed) -> AsyncIterator[tuple[asyncio.Event, asyncio.Task[None]]]:
    """Run ``feed`` in a task; on exit stop it and require it to end within 3 s."""
    stop = asyncio.Event()
    task = asyncio.create_task(feed.run(stop))
    try:
        yield stop, task
    finally:
        stop.set()
        await asyncio.wait({task}, timeout=3)
        assert task.done(), "feed.run did not return within 3 s of stop"


def run_async(scenario: Callable[[], Awaitable[None]], timeout_s: float = 15.0) -> None:
    """Run an async test scenario with a bound."""

    async def bounded() -> None:
        await asyncio.wait_for(scenario(), timeout_s)

    asyncio.run(bounded())
