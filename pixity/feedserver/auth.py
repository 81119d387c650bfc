"""Who may connect: Upstox's bearer token and its authorize-then-redirect flow.

- ``GET /v3/feed/market-data-feed/authorize`` with ``Authorization: Bearer <token>`` answers
  Upstox's JSON ``{"status": "success", "data": {"authorizedRedirectUri": "ws://.../v3/feed/
  market-data-feed?code=<code>"}}`` (and ``authorized_redirect_uri``, which Upstox sends too);
  without a good token, 401 with ``{"status": "error", "errors": [...]}``.
- A websocket upgrade is accepted with a good bearer token, or without any header when its
  ``code`` query parameter is one the authorize endpoint issued (each code works once and
  expires after a minute).

A good token is any non-empty one, or exactly ``require_token`` when that is set. Tokens are
never logged.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

log = logging.getLogger(__name__)

FEED_PATH = "/v3/feed/market-data-feed"
AUTHORIZE_PATH = FEED_PATH + "/authorize"
_CODE_TTL_S = 60.0
_MAX_CODES = 1000


class Authorizer:
    """The ``process_request`` hook of the server: authorize endpoint and upgrade checks."""

    def __init__(
        self,
        require_token: str | None,
        base_url: Callable[[str | None], str],
        counts: dict[str, int],
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token = require_token
        self._base_url = base_url  # Host header -> "ws://host:port"
        self._counts = counts
        self._wall = wall
        self._codes: OrderedDict[str, float] = OrderedDict()

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer the authorize endpoint, refuse unauthorized upgrades, let the rest through."""
        parts = urllib.parse.urlsplit(request.path)
        if parts.path.rstrip("/") == AUTHORIZE_PATH:
            return self._authorize(request)
        code = urllib.parse.parse_qs(parts.query).get("code", [""])[0]
        if code and self._redeem(code):
            return None
        if self._token_ok(request):
            return None
        self._counts["auth_rejected"] = self._counts.get("auth_rejected", 0) + 1
        log.warning("refused a connection from %s: no valid token", connection.remote_address)
        return _json(HTTPStatus.UNAUTHORIZED, _error("UDAPI100050", "Invalid token used"))

    def _authorize(self, request: Request) -> Response:
        if not self._token_ok(request):
            self._counts["auth_rejected"] = self._counts.get("auth_rejected", 0) + 1
            return _json(HTTPStatus.UNAUTHORIZED, _error("UDAPI100050", "Invalid token used"))
        code = secrets.token_urlsafe(16)
        self._issue(code)
        uri = f"{self._base_url(request.headers.get('Host'))}{FEED_PATH}?code={code}"
        body: dict[str, object] = {
            "status": "success",
            "data": {"authorizedRedirectUri": uri, "authorized_redirect_uri": uri},
        }
        self._counts["authorized"] = self._counts.get("authorized", 0) + 1
        return _json(HTTPStatus.OK, body)

    def _token_ok(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        if self._token is None:
            return True
        return secrets.compare_digest(token.encode(), self._token.encode())

    def _issue(self, code: str) -> None:
        self._codes[code] = self._wall() + _CODE_TTL_S
        while len(self._codes) > _MAX_CODES:
            self._codes.popitem(last=False)

    def _redeem(self, code: str) -> bool:
        expiry = self._codes.pop(code, None)
        return expiry is not None and self._wall() <= expiry


def _error(code: str, message: str) -> dict[str, object]:
    return {
        "status": "error",
        "errors": [
            {"errorCode": code, "message": message, "error_code": code, "propertyPath": None}
        ],
    }


def _json(status: HTTPStatus, body: dict[str, object]) -> Response:
    data = json.dumps(body).encode()
    headers = Headers(
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("Connection", "close"),
        ]
    )
    return Response(status.value, status.phrase, headers, data)
