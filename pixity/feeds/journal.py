"""An append-only journal of received frames, one file per session day.

The ingest appends each frame *before* processing it, so a crash loses nothing that was
received: on start it replays the journal past the last position it flushed to the store.
The local exchange can replay a journal too (``pixity feed-server --replay``).

File layout: the magic ``PXJ1`` then records of ``<length u32><crc32 u32><received_ns i64>``
followed by ``length`` payload bytes. A record whose header or payload was cut short by a
crash, or whose checksum does not match, ends the readable journal; opening the file for
appending truncates such a torn tail (and says how many bytes it dropped). An append that
fails (a full or read-only disk) is undone the same way, so the caller may try it again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from pixity.errors import DataIntegrityError, StoreError

log = logging.getLogger(__name__)

MAGIC = b"PXJ1"
_HEADER = struct.Struct("<IIq")
MAX_RECORD = 16 * 1024 * 1024  # a websocket frame larger than this is not a feed frame


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """One journalled frame and where it lies in the file."""

    offset: int  # where the record starts
    end: int  # where the next record starts: the position to store once it is flushed
    received_ns: int  # wall-clock receive time, ns since the epoch
    payload: bytes


def read_journal(path: Path, start: int = 0) -> Iterator[JournalRecord]:
    """Yield the whole records of ``path`` from byte offset ``start`` (0 = the beginning)."""
    with path.open("rb") as handle:
        _check_magic(handle, path)
        offset = max(start, len(MAGIC))
        handle.seek(offset)
        while True:
            record = _read_record(handle, offset)
            if record is None:
                return
            yield record
            offset = record.end


def valid_length(path: Path) -> int:
    """Return the byte length of ``path``'s readable part (magic plus whole records)."""
    end = len(MAGIC)
    for record in read_journal(path):
        end = record.end
    return end


def _write_all(handle: BinaryIO, data: bytes) -> None:
    """Write all of ``data`` to an unbuffered file (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[handle.write(view) :]


def _check_magic(handle: BinaryIO, path: Path) -> None:
    head = handle.read(len(MAGIC))
    if head != MAGIC:
        raise DataIntegrityError(f"{path} is not a pixity journal (starts with {head!r})")


def _read_record(handle: BinaryIO, offset: int) -> JournalRecord | None:
    header = handle.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    length, crc, received_ns = _HEADER.unpack(header)
    if length > MAX_RECORD:
        return None
    payload = handle.read(length)
    if len(payload) < length or zlib.crc32(payload) != crc:
        return None
    return JournalRecord(offset, offset + _HEADER.size + length, received_ns, payload)


class JournalWriter:
    """Append frames to one day's journal; the only writer of that file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self._open(path)
        except OSError as exc:
            raise StoreError(f"journal {path}: cannot open for appending: {exc}") from exc
        self.position = self._handle.tell()
        self._torn = False

    # Unbuffered: each record goes to the OS in write calls of its own (what survives a kill -9
    # of this process), and a failed one leaves nothing behind in a buffer to be written later.
    @staticmethod
    def _open(path: Path) -> BinaryIO:
        if not path.exists() or path.stat().st_size == 0:
            fresh: BinaryIO = path.open("wb", buffering=0)
            _write_all(fresh, MAGIC)
            return fresh
        good = valid_length(path)
        size = path.stat().st_size
        handle: BinaryIO = path.open("r+b", buffering=0)
        if good < size:
            log.warning("journal %s: dropping a torn tail of %d bytes", path, size - good)
            handle.truncate(good)
        handle.seek(good)
        return handle

    def append(self, payload: bytes, received_ns: int) -> int:
        """Append one frame and hand it to the OS; return the position after it.

        Raise ``StoreError`` if it cannot be written; the journal is then as it was before.
        """
        record = _HEADER.pack(len(payload), zlib.crc32(payload), received_ns) + payload
        try:
            if self._torn:  # a failed append could not be cut back then: now or never
                self._cut_back()
            _write_all(self._handle, record)
        except OSError as exc:
            self._torn = True
            with contextlib.suppress(OSError):  # else the next append tries again
                self._cut_back()
            raise StoreError(f"journal {self.path}: append failed: {exc}") from exc
        self.position += len(record)
        return self.position

    def _cut_back(self) -> None:
        """Drop what a failed append wrote (shrinking a file needs no space)."""
        self._handle.truncate(self.position)
        self._handle.seek(self.position)
        self._torn = False

    def sync(self) -> None:
        """Force what was appended onto the disk (survives a power cut, not only a crash)."""
        try:
            os.fsync(self._handle.fileno())
        except OSError as exc:
            raise StoreError(f"journal {self.path}: fsync failed: {exc}") from exc

    def close(self) -> None:
        """Close the file (everything appended is already with the OS)."""
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
