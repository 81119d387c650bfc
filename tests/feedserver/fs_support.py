"""Helpers for the local exchange's tests: a real server on port 0 and a raw websocket client."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from pixity.feeds.upstox_wire import Frame, Method, Mode, build_request, decode_frame
from pixity.feedserver.config import ServerConfig
from pixity.feedserver.server import FeedServer
from pixity.feedserver.source import sample_tape
from pixity.feedserver.tape import Tape
from pixity.markettime import IST, to_epoch_ms

SYMS = ("NSE_EQ|INE155A01022", "NSE_EQ|INE002A01018", "NSE_EQ|INE467B01029")
DAY = date(2025, 6, 2)


def at(hour: int, minute: int, second: int = 0) -> int:
    """Return epoch ms of ``hour:minute`` IST on DAY."""
    return to_epoch_ms(datetime(2025, 6, 2, hour, minute, second, tzinfo=IST))


@functools.cache
def tape() -> Tape:
    return sample_tape(SYMS, 7, DAY)


@contextlib.asynccontextmanager
async def running(
    start_ms: int | None = None,
    source: Tape | None = None,
    on_send: Callable[[bytes], None] | None = None,
    **config: Any,
) -> AsyncIterator[FeedServer]:
    """Run a FeedServer on a free port for the block."""
    server = FeedServer(
        ServerConfig(port=0, **config),
        source or tape(),
        at(9, 20) if start_ms is None else start_ms,
        on_send=on_send,
    )
    await server.start()
    task = asyncio.ensure_future(server.run())
    try:
        yield server
    finally:
        server.stop()
        await asyncio.wait_for(task, 10)


async def client(
    server: FeedServer, token: str | None = "t", url: str | None = None
) -> ClientConnection:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # max_queue=None: a test that stops reading early must still see the close handshake.
    return await connect(
        url or server.url, additional_headers=headers, compression=None, max_queue=None
    )


async def sub(ws: ClientConnection, keys: list[str], mode: Mode = Mode.FULL) -> None:
    await ws.send(build_request(Method.SUB, keys, mode))


async def frames(
    ws: ClientConnection, until: Callable[[list[Frame]], bool], timeout: float = 10.0
) -> list[Frame]:
    """Receive and decode frames until ``until(received)`` holds (bounded)."""
    got: list[Frame] = []
    async with asyncio.timeout(timeout):
        while not until(got):
            got.append(decode_frame(await ws.recv()))
    return got


def quotes_of(got: list[Frame]) -> list[Any]:
    return [q for f in got for q in f.quotes]


def n_quotes(n: int) -> Callable[[list[Frame]], bool]:
    return lambda got: len(quotes_of(got)) >= n
