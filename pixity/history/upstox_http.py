"""HTTP for the Upstox historical-candle API: one GET per chunk, every wait bounded.

See ``pixity.history.upstox_fetch`` for what Upstox documents and where. Each request has a
socket timeout (each connect and read waits at most ``timeout_s``); 429, 5xx, timeouts and
dropped connections are retried up to ``attempts`` in all, with exponential backoff capped
at ``backoff_max_s`` (a ``Retry-After`` header, which Upstox does not document, lengthens a
pause within that cap). 401 raises ``UpstoxTokenError``; any other 4xx ``UpstoxRequestError``
with the API's ``errorCode message``. The token is a ``Secret``: revealed only into the
request header; server text that reaches a message or log passes through ``redact``; all
errors are raised ``from None`` so no chained urllib error carries the request; redirects
are refused, since urllib would send the header along.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, NoReturn

from pixity.errors import ConfigError, DataIntegrityError, PixityError, Policy
from pixity.feeds.secret import Secret, redact

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.upstox.com/v2"
TOKEN_ENV = "UPSTOX_ACCESS_TOKEN"
TOKEN_HINT = f"Upstox tokens expire every day at 03:30 IST: log in again and set {TOKEN_ENV}"
_MAX_BODY = 32 * 1024 * 1024  # a month of 1m candles is well under 1 MB
_SHOWN_BODY = 300


class UpstoxTokenError(ConfigError):
    """Upstox refused the access token (HTTP 401): it expired or is wrong."""


class UpstoxRequestError(ConfigError):
    """Upstox refused the request (a 4xx other than 401); its message says why."""


class UpstoxUnavailableError(PixityError):
    """Upstox answered 429/5xx, timed out or dropped the connection on every attempt."""

    policy = Policy.RETRY


class UpstoxResponseError(DataIntegrityError):
    """Upstox answered 200 with something that is not the documented JSON."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchPolicy:
    """The bounds of a fetch: per-request timeout, attempts, backoff and chunk length."""

    timeout_s: float = 30.0
    attempts: int = 4
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0
    chunk_days: int = 28

    def __post_init__(self) -> None:
        if not 0 < self.timeout_s <= 600:
            raise ConfigError(f"timeout {self.timeout_s}s must be in (0, 600]")
        if not 1 <= self.attempts <= 20:
            raise ConfigError(f"attempts {self.attempts} must be in 1..20")
        if not 0 <= self.backoff_s <= self.backoff_max_s <= 600:
            raise ConfigError("backoff must satisfy 0 <= backoff_s <= backoff_max_s <= 600")
        if not 1 <= self.chunk_days <= 28:
            raise ConfigError(f"chunk_days {self.chunk_days} must be in 1..28 (one month)")

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Return the pause before attempt ``attempt + 1``."""
        backoff: float = self.backoff_s * 2.0 ** (attempt - 1)
        wanted = backoff if retry_after is None else max(retry_after, backoff)
        return min(wanted, self.backoff_max_s)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would forward the bearer header to wherever a redirect points; refuse instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _Retryable(Exception):
    """One attempt failed in a way another attempt may fix."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class UpstoxCandles:
    """A client for Upstox's 1m historical candles: one chunk per call, retried within bounds."""

    def __init__(
        self,
        *,
        api_url: str,
        token: Secret,
        policy: FetchPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urllib.parse.urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"api url {api_url!r} must be like {DEFAULT_API_URL}")
        self._base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self._base = self._base.rstrip("/")
        self._host = parts.netloc
        self._token = token
        self.policy = policy or FetchPolicy()
        self._sleep = sleep
        self._opener = urllib.request.build_opener(_NoRedirect)

    def url(self, key: str, first: date, last: date) -> str:
        """Return the request URL for ``key``'s 1m candles from ``first`` to ``last``."""
        quoted = urllib.parse.quote(key, safe="")
        interval = "minutes/1" if self._base.endswith("/v3") else "1minute"
        return f"{self._base}/historical-candle/{quoted}/{interval}/{last}/{first}"

    def get(self, key: str, first: date, last: date) -> bytes:
        """Return the raw answer for ``key``'s 1m candles from ``first`` to ``last`` (one chunk)."""
        return self._get(self.url(key, first, last), self.where(key, first, last))

    def where(self, key: str, first: date, last: date) -> str:
        """Return how messages name one request: host, key and dates, never the token."""
        return f"Upstox ({self._host}) {key} {first}..{last}"

    def _get(self, url: str, where: str) -> bytes:
        attempts = self.policy.attempts
        for attempt in range(1, attempts + 1):
            try:
                return self._get_once(url, where)
            except _Retryable as exc:
                if attempt == attempts:
                    raise UpstoxUnavailableError(
                        f"{where}: {exc.reason} (tried {attempts} time{'s' * (attempts != 1)})"
                    ) from None
                pause = self.policy.delay(attempt, exc.retry_after)
                log.warning(
                    "%s: %s; attempt %d of %d, next in %.1fs",
                    where, exc.reason, attempt, attempts, pause,
                )  # fmt: skip
                self._sleep(pause)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _get_once(self, url: str, where: str) -> bytes:
        request = urllib.request.Request(
            url,
            headers={
                "Authorization": f"Bearer {self._token.reveal()}",
                "Accept": "application/json",
            },
            method="GET",
        )
        timeout = self.policy.timeout_s
        try:
            with self._opener.open(request, timeout=timeout) as response:
                body: bytes = response.read(_MAX_BODY + 1)
        except urllib.error.HTTPError as exc:
            self._refused(exc, where)
        except (TimeoutError, urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            # ``from None`` everywhere below: a chained original could carry the request.
            raise _Retryable(self.scrub(_network_reason(exc, timeout))) from None
        if len(body) > _MAX_BODY:
            raise UpstoxResponseError(f"{where}: answer larger than {_MAX_BODY} bytes")
        return body

    def _refused(self, exc: urllib.error.HTTPError, where: str) -> NoReturn:
        try:
            body = exc.read(64 * 1024)
        except (OSError, http.client.HTTPException):
            body = b""
        finally:
            exc.close()
        said = self.scrub(_api_message(body) or str(exc.reason))
        code = exc.code
        if code == 429 or code >= 500:
            raise _Retryable(f"HTTP {code} ({said})", _retry_after(exc)) from None
        if code == 401:
            raise UpstoxTokenError(
                f"{where}: the access token was refused (HTTP 401: {said}); {TOKEN_HINT}"
            ) from None
        if 300 <= code < 400:
            raise UpstoxRequestError(
                f"{where}: answered a redirect (HTTP {code}), not followed: it would take the "
                "token elsewhere; check --api-url"
            ) from None
        raise UpstoxRequestError(f"{where}: request refused (HTTP {code}): {said}") from None

    def scrub(self, text: str) -> str:
        """Return ``text`` (from the server, for a message or log) with the token masked."""
        return redact(text, [self._token])


def _api_message(body: bytes) -> str:
    """Return the error's ``errorCode message`` pairs from an Upstox error body, else its text."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    errors = answer.get("errors") if isinstance(answer, dict) else None
    if isinstance(errors, list):
        said = []
        for error in errors:
            if isinstance(error, dict):
                code = error.get("errorCode") or error.get("error_code")
                said.append(" ".join(str(part) for part in (code, error.get("message")) if part))
        if any(said):
            return "; ".join(part for part in said if part)
    return shown(body)


def shown(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return text[:_SHOWN_BODY] + ("..." if len(text) > _SHOWN_BODY else "")


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare; the backoff applies


def _network_reason(exc: BaseException, timeout: float) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g}s"
    if isinstance(reason, str):
        return reason
    return f"{type(reason).__name__}: {reason}"
