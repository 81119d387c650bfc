"""Where the Upstox V3 market-data feed lives, and the authorize call that returns it.

Upstox documents two ways in: connect to ``wss://api.upstox.com/v3/feed/market-data-feed``
with ``Authorization: Bearer <token>`` and follow its redirect, or ``GET`` the ``/authorize``
endpoint (bearer and ``Accept: application/json``), which answers
``{"status": "success", "data": {"authorizedRedirectUri": "wss://..."}}``, and connect to that
URI with no header. Production uses the authorize call, afresh before every connection.

The authorized URI carries a one-time ``code``: it is as secret as the token and is only
ever logged through ``pixity.feeds.secret.redact``.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pixity.errors import ConfigError, TransientFeedError
from pixity.feeds.secret import Secret

PRODUCTION_FEED_URL = "wss://api.upstox.com/v3/feed/market-data-feed"
PRODUCTION_AUTHORIZE_URL = "https://api.upstox.com/v3/feed/market-data-feed/authorize"
TOKEN_HINT = "get a fresh UPSTOX_ACCESS_TOKEN (Upstox tokens expire every day)"
_MAX_BODY = 64 * 1024  # the authorize answer is a few hundred bytes


class TokenRejectedError(TransientFeedError):
    """Upstox refused the access token (HTTP 401/403). Retried: the user may replace it."""


class EndpointKind(StrEnum):
    """How a connection's websocket URI is obtained."""

    AUTHORIZE = "authorize"  # GET an authorize endpoint, connect to its answer without a header
    DIRECT = "direct"  # connect straight to the URL with the bearer header


@dataclass(frozen=True, slots=True)
class FeedEndpoint:
    """The configured entry point of the feed (holds no secret)."""

    kind: EndpointKind
    url: str

    @classmethod
    def from_feed_url(cls, feed_url: str | None) -> FeedEndpoint:
        """Return the endpoint for ``feed_url``: None is production, else by its scheme."""
        if feed_url is None:
            return cls(EndpointKind.AUTHORIZE, PRODUCTION_AUTHORIZE_URL)
        scheme = urllib.parse.urlsplit(feed_url).scheme.lower()
        if scheme in ("ws", "wss"):
            return cls(EndpointKind.DIRECT, feed_url)
        if scheme in ("http", "https"):
            return cls(EndpointKind.AUTHORIZE, feed_url)
        raise ConfigError(
            f"feed_url {safe_url(feed_url)!r} must start with ws://, wss:// (connect directly) "
            "or http://, https:// (an authorize endpoint)"
        )

    @property
    def host(self) -> str:
        """Return host:port, for messages."""
        return host_of(self.url)


def host_of(url: str) -> str:
    """Return the ``host[:port]`` of ``url``: what messages name, never a path or query."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


def safe_url(url: str) -> str:
    """Return ``url`` without credentials, query or fragment."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


async def authorize(url: str, token: Secret, timeout_s: float) -> str:
    """Return the authorized websocket URI from the authorize endpoint at ``url``.

    The blocking HTTP call runs in a worker thread, bounded by ``timeout_s``.
    Raise ``TokenRejectedError`` on 401/403 and ``TransientFeedError`` on anything else.
    """
    bearer = token.reveal()
    return await asyncio.to_thread(_authorize_blocking, url, bearer, timeout_s)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would forward the bearer header to wherever a redirect points; refuse instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _authorize_blocking(url: str, bearer: str, timeout_s: float) -> str:
    where = safe_url(url)
    request = urllib.request.Request(
        url,
        headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"},
        method="GET",
    )
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            body = response.read(_MAX_BODY)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise TokenRejectedError(
                f"token rejected by {where} (HTTP {exc.code}): {TOKEN_HINT}"
            ) from None
        raise TransientFeedError(f"authorize at {where} failed: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        # ``from None``: the chained original could carry the request and its header.
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise TransientFeedError(
            f"authorize at {where} failed: {type(reason).__name__}: {reason}"
        ) from None
    return _authorized_uri(body, where)


def _authorized_uri(body: bytes, where: str) -> str:
    try:
        answer = json.loads(body)
        data = answer["data"]
        uri = data.get("authorizedRedirectUri") or data.get("authorized_redirect_uri")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TransientFeedError(
            f"authorize at {where} answered no JSON with data.authorizedRedirectUri"
        ) from None
    if not isinstance(uri, str) or urllib.parse.urlsplit(uri).scheme.lower() not in (
        "ws",
        "wss",
    ):
        raise TransientFeedError(f"authorize at {where} answered no ws:// or wss:// URI")
    return uri
