"""Secrets that never print, and redaction of secrets from any text that might be logged.

A ``Secret`` shows as ``Secret('***')`` in every repr, str and f-string; only ``reveal()``
hands out the value, and only the code that puts it on the wire calls it. Whatever text may
reach a log or an exception message passes through ``redact`` first; ``RedactingLogger``
(given to third-party code such as ``websockets``, which logs request headers at DEBUG) and
``RedactFilter`` (for handlers) apply it to log records.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from pixity.errors import ConfigError

MASK = "***"

# Shapes that carry credentials whatever their value: an Authorization header line, a bearer
# token, and the one-time ``code``/token parameters of Upstox's authorized feed URIs.
_PATTERNS = (
    (re.compile(r"(?i)\b(authorization['\"]?\s*[:=]\s*).+"), r"\g<1>" + MASK),
    (re.compile(r"(?i)\b(bearer\s+)[^\s'\",;]+"), r"\g<1>" + MASK),
    (re.compile(r"(?i)([?&](?:code|token|access_token)=)[^&\s'\"]+"), r"\g<1>" + MASK),
)


class Secret:
    """A credential whose value shows only through ``reveal()``."""

    __slots__ = ("_env", "_seen", "_value")

    def __init__(self, value: str) -> None:
        cleaned = _clean(value, "the secret")
        self._value: str | None = cleaned
        self._env: str | None = None
        self._seen: set[str] = {cleaned}

    @classmethod
    def from_env(cls, name: str) -> Secret:
        """Return a secret read from environment variable ``name`` at every ``reveal()``.

        Re-reading lets a user replace an expired token without restarting; every value
        ever read stays known to ``redact``.
        """
        secret = cls.__new__(cls)
        secret._value = None
        secret._env = name
        secret._seen = set()
        secret.reveal()  # fail now, not at the first connection, when it is not set
        return secret

    def reveal(self) -> str:
        """Return the value (from the environment again, for ``from_env`` secrets)."""
        if self._env is None:
            assert self._value is not None
            return self._value
        raw = os.environ.get(self._env)
        if raw is None or not raw.strip():
            raise ConfigError(f"environment variable {self._env} is not set")
        value = _clean(raw, self._env)
        self._seen.add(value)
        return value

    def known_values(self) -> tuple[str, ...]:
        """Return every value this secret has revealed, longest first."""
        return tuple(sorted(self._seen, key=len, reverse=True))

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        # Pickling would write the value to disk or a pipe; nothing in pixity needs it.
        raise TypeError("a Secret cannot be pickled")


def _clean(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a string")
    cleaned = value.strip()
    if not cleaned or any(ch.isspace() for ch in cleaned):
        raise ConfigError(f"{what} must be one non-empty word")
    return cleaned


def redact(text: str, secrets: Iterable[Secret] = ()) -> str:
    """Return ``text`` with every known secret value and credential-shaped part masked."""
    for secret in secrets:
        for value in secret.known_values():
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger adapter that formats each message and masks secrets before emitting it.

    Tracebacks are formatted and masked into the message rather than attached, so no handler
    ever formats a raw exception that might hold a secret.
    """

    def __init__(self, logger: logging.Logger, scrub: Callable[[str], str]) -> None:
        super().__init__(logger, {})
        self._scrub = scrub

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        """Pass ``extra`` through from an outer adapter (websockets adds its own)."""
        return msg, kwargs

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        """Emit ``msg % args`` with secrets masked."""
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        exc_info = kwargs.pop("exc_info", None)
        if exc_info:
            text += "\n" + _format_exc(exc_info)
        kwargs.pop("stack_info", None)
        kwargs.setdefault("stacklevel", 2)
        self.logger.log(level, "%s", self._scrub(text), **kwargs)


def _format_exc(exc_info: object) -> str:
    if isinstance(exc_info, BaseException):
        return "".join(traceback.format_exception(exc_info)).rstrip()
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and exc_info[1] is not None:
        return "".join(traceback.format_exception(exc_info[1])).rstrip()
    return traceback.format_exc().rstrip()


class RedactFilter(logging.Filter):
    """A filter for handlers: mask ``secrets`` in every record's message and traceback."""

    def __init__(self, *secrets: Secret) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message in place; never drop it."""
        message = record.getMessage()
        masked = redact(message, self._secrets)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
        return True
