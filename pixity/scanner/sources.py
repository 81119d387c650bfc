"""The scanner's only way into the stores: read-only readers, one short snapshot per read.

Each store is opened with its ``*Reader`` class (``mode=ro`` and ``query_only``, so the
scanner cannot write), on first use, and kept open between refreshes: opening four stores
every two seconds would cost more than reading them. A kept reader never holds a
transaction between reads (``SqliteReader.snapshot`` commits when the read ends), so the
WAL can always be checkpointed. A reader is dropped and opened again when its file is
replaced (a store is created whole and moved into place) or after any error.

A read may be cached under a slot: it is then answered from the previous result while the
store's ``PRAGMA data_version`` (which changes whenever another connection commits) and the
read's arguments are unchanged. config.db, signals.db and paper.db change a few times per
15m bar, so most refreshes read them for the cost of one pragma.

Each read is its own I/O boundary: a missing store becomes a note saying what to start, any
other failure the store's entry in ``errors``; the other stores are still read.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Generic, Self, TypeVar, cast

from pixity.errors import PixityError, StoreMissingError
from pixity.scanner.result import Problems
from pixity.stores.config import ConfigReader
from pixity.stores.market import MarketReader
from pixity.stores.paper import PaperReader
from pixity.stores.paths import StorePaths
from pixity.stores.signals import SignalReader
from pixity.stores.sqlite import SqliteReader

log = logging.getLogger(__name__)

# A dashboard glance: a store locked for longer than this is shown as an error, not awaited.
SCANNER_BUSY_TIMEOUT_S = 1.0

R = TypeVar("R", bound=SqliteReader)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Source(Generic[R]):
    """One store: its key in ``errors``, how to open it, where it is, what to start."""

    key: str
    reader: Callable[..., R]
    path: Callable[[StorePaths], Path]
    missing: str


MARKET_STORE = Source("market", MarketReader, lambda p: p.market, "no market data yet: start `pixity ingest`")  # fmt: skip
CONFIG_STORE = Source("config", ConfigReader, lambda p: p.config, "no live session yet: start `pixity live`")  # fmt: skip
SIGNALS_STORE = Source(
    "signals", SignalReader, lambda p: p.signals, "no signals yet: start `pixity live`"
)
PAPER_STORE = Source(
    "paper",
    PaperReader,
    lambda p: p.paper,
    "no paper trading yet: start `pixity live --mode paper`",
)


@dataclass(slots=True)
class _Held:
    reader: SqliteReader
    identity: tuple[int, int]  # (st_dev, st_ino) of the file the reader opened
    # slot -> (the read's arguments, data_version when read, the result)
    cache: dict[str, tuple[Hashable, int, object]] = field(default_factory=dict)


def describe(exc: BaseException) -> str:
    """Return the message the dashboard shows for ``exc`` (pixity's name the store and path)."""
    if isinstance(exc, PixityError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class Stores:
    """The readers of one data directory's stores, opened lazily and kept between reads."""

    def __init__(
        self, data_dir: str | os.PathLike[str], *, busy_timeout_s: float = SCANNER_BUSY_TIMEOUT_S
    ) -> None:
        self.paths = StorePaths(data_dir)
        self.busy_timeout_s = busy_timeout_s
        self._held: dict[str, _Held] = {}
        self._last_error: dict[str, str] = {}

    def read(
        self,
        source: Source[R],
        read: Callable[[R], T],
        problems: Problems,
        *,
        cache_as: tuple[str, Hashable] | None = None,
    ) -> T | None:
        """Return ``read(reader)`` run in one snapshot, or None with the reason in ``problems``.

        With ``cache_as=(slot, args)`` the previous result of that slot is returned while
        ``args`` and the store's data_version are unchanged.
        """
        try:
            held = self._held_for(source)
            with held.reader.snapshot():
                value = _run(held, read, cache_as)
        except StoreMissingError:
            self._drop(source.key)
            problems.note(source.missing)
            return None
        except Exception as exc:  # this store's I/O boundary: show it, read the others
            self._drop(source.key)
            message = describe(exc)
            if self._last_error.get(source.key) != message:  # once per new error, not per 2 s
                log.warning("scanner: reading %s failed: %s", source.key, message, exc_info=True)
            self._last_error[source.key] = message
            problems.errors[source.key] = message
            return None
        self._last_error.pop(source.key, None)
        return value

    def open_readers(self) -> dict[str, SqliteReader]:
        """Return the readers open now, by store key (to check that none holds a transaction)."""
        return {key: held.reader for key, held in self._held.items()}

    def close(self) -> None:
        """Close every open reader."""
        for key in list(self._held):
            self._drop(key)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _held_for(self, source: Source[R]) -> _Held:
        path = source.path(self.paths)
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            self._drop(source.key)
            raise StoreMissingError(f"{source.key} store not found at {path}") from None
        identity = (stat.st_dev, stat.st_ino)
        held = self._held.get(source.key)
        if held is not None and held.identity == identity:
            return held
        self._drop(source.key)
        held = _Held(source.reader(path, busy_timeout_s=self.busy_timeout_s), identity)
        self._held[source.key] = held
        return held

    def _drop(self, key: str) -> None:
        held = self._held.pop(key, None)
        if held is not None:
            held.reader.close()


def _run(held: _Held, read: Callable[[R], T], cache_as: tuple[str, Hashable] | None) -> T:
    reader = cast(R, held.reader)
    if cache_as is None:
        return read(reader)
    slot, args = cache_as
    version = reader.data_version()
    hit = held.cache.get(slot)
    if hit is not None and hit[1] == version and hit[0] == args:
        return cast(T, hit[2])
    value = read(reader)
    held.cache[slot] = (args, version, value)
    return value
