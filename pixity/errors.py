"""Exception classes, each carrying the policy the top-level loop applies to it.

Inner code raises; only a component's top-level loop (or a single I/O boundary) catches,
and it decides what to do from ``policy``, never from the message.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class Policy(StrEnum):
    """What the top-level loop does with an error."""

    STOP = "stop"  # stop the component loudly: carrying on would corrupt data or lie
    RETRY = "retry"  # retry with backoff and a bound; count every attempt
    REJECT = "reject"  # drop the one input, count it by reason, carry on
    MARK = "mark"  # mark the owner (a strategy, a store) as failed, carry on with the rest


class PixityError(Exception):
    """Base class of every error pixity raises on purpose."""

    policy: ClassVar[Policy] = Policy.STOP


class ConfigError(PixityError):
    """Configuration or parameters are wrong; nothing can run until they are fixed."""

    policy = Policy.STOP


class InvalidValueError(PixityError, ValueError):
    """A value broke a domain invariant (a price that is not finite, a naive datetime...).

    Raised by constructors of domain objects; at a boundary the offending input is rejected
    and counted with this error's message as the reason's detail.
    """

    policy = Policy.REJECT


class DataIntegrityError(PixityError):
    """Stored or received data contradicts itself; continuing would spread the damage."""

    policy = Policy.STOP


class TransientFeedError(PixityError):
    """The market-data feed failed in a way that reconnecting may fix."""

    policy = Policy.RETRY


class StrategyError(PixityError):
    """A strategy failed on its own; it is marked ERROR, the others go on."""

    policy = Policy.MARK


class StoreError(PixityError):
    """A store could not be opened, read or written."""

    policy = Policy.STOP


class StoreBusyError(StoreError):
    """A store stayed locked past its bounded wait (SQLite ``busy_timeout``)."""

    policy = Policy.RETRY


class StoreMissingError(StoreError):
    """A reader asked for a store file that does not exist yet."""

    policy = Policy.MARK


class SchemaVersionError(StoreError):
    """A store's schema version is not one this code can use."""

    policy = Policy.STOP


class CalendarRangeError(ConfigError):
    """A date lies outside the range whose NSE holidays are known."""
