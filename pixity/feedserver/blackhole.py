"""A listener that accepts connections and never answers: the fault of a peer that hangs.

``accept``: TCP is accepted and whatever the client sends is read and thrown away; nothing is
ever written, so the websocket opening handshake never completes and a client has to give up
by its own open timeout. ``handshake``: the HTTP upgrade is answered with a valid
``101 Switching Protocols``, then nothing more is written, not a frame, not a pong, not a
close: a client has to notice by its keepalive ping timeout or its no-data watchdog.

The hole keeps reading (and discarding) so that it sees at once when a client gives up and
closes, and closes its side too: over a long test it must not pile up sockets of its own.
Those reads wait on the peer without a bound on purpose (never answering is the fault); the
server's shutdown aborts every connection still open.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
from collections.abc import Sequence
from socket import socket

from pixity.feedserver.faults import BlackHole

log = logging.getLogger(__name__)

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
_READ = 65536


class BlackHoleServer:
    """Accept on ``host:port`` and treat every connection as ``mode`` says; count each one."""

    def __init__(self, mode: BlackHole, counts: dict[str, int]) -> None:
        self.mode = mode
        self.counts = counts
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> None:
        """Bind the socket and start accepting."""
        self._server = await asyncio.start_server(self._accept, host, port)
        log.warning(
            "fault: black hole (%s): connections are accepted and never answered", self.mode
        )

    @property
    def sockets(self) -> Sequence[socket]:
        """Return the listening sockets."""
        assert self._server is not None
        return self._server.sockets

    def close(self) -> None:
        """Stop accepting and abort every connection still held."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._open):
            writer.transport.abort()

    async def wait_closed(self) -> None:
        """Wait for the listener to close."""
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._count("black_hole_connections")
        self._open.add(writer)
        try:
            if self.mode is BlackHole.HANDSHAKE and not await self._handshake(reader, writer):
                return
            while await reader.read(_READ):
                pass  # swallowed: pings, requests, close frames alike
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the peer went away or sent no HTTP request: nothing to answer either way
        finally:
            self._open.discard(writer)
            with contextlib.suppress(OSError):
                writer.transport.abort()

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer the upgrade request with a valid 101; tell whether it was one."""
        request = await reader.readuntil(b"\r\n\r\n")  # at most the reader's limit, 64 KiB
        key = websocket_key(request)
        if key is None:
            self._count("black_hole_bad_requests")
            return False
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n"
        )
        self._count("black_hole_handshakes")
        return True

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1


def websocket_key(request: bytes) -> str | None:
    """Return the ``Sec-WebSocket-Key`` of an HTTP upgrade request, or None without one."""
    for line in request.decode("latin-1").split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "sec-websocket-key":
            return value.strip()
    return None


def accept_key(key: str) -> str:
    """Return the ``Sec-WebSocket-Accept`` answer to ``key`` (RFC 6455 section 4.2.2)."""
    digest = hashlib.sha1((key + _WS_GUID).encode(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()
