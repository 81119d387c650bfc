"""Shared SQLite plumbing: connections, bounded waits, errors, transactions and migrations.

Every live store is one SQLite file in WAL mode with exactly one writer process and any
number of read-only readers. The writer opens the file read-write, migrates it and writes in
short ``BEGIN IMMEDIATE`` transactions; readers open it with ``mode=ro`` and
``query_only``, read in autocommit mode and never hold a transaction between calls, so the
WAL can always be checkpointed. Every wait is bounded by ``busy_timeout``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from pixity.errors import (
    DataIntegrityError,
    SchemaVersionError,
    StoreBusyError,
    StoreError,
    StoreMissingError,
)

logger = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT_S = 5.0

Migration = Callable[[sqlite3.Connection], None]
Row = tuple[Any, ...]
T = TypeVar("T")

_BUSY_MESSAGES = (
    "database is locked",
    "database is busy",
    "database table is locked",
    "database schema is locked",
)


def sql_migration(*statements: str) -> Migration:
    """Return a migration that runs ``statements`` one by one in the caller's transaction.

    ``executescript`` is not used because it commits first, which would split a migration.
    """

    def run(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement)

    return run


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """What a store is: its name, who writes it, and its migrations in order.

    ``migrations[i]`` upgrades schema version ``i`` to ``i + 1``; the version this code knows
    is ``len(migrations)`` and is kept in ``PRAGMA user_version``.
    """

    name: str
    writer: str
    migrations: tuple[Migration, ...]
    # The oldest version readers still take (what a newer version added, they find missing);
    # None: only the current one. Writers always migrate to the current version.
    oldest_readable: int | None = None

    @property
    def version(self) -> int:
        """Return the schema version this code writes and reads."""
        return len(self.migrations)

    @property
    def min_read_version(self) -> int:
        """Return the oldest schema version a reader opens."""
        return self.version if self.oldest_readable is None else self.oldest_readable


def where_clause(conditions: Sequence[str]) -> str:
    """Return ``WHERE a AND b`` for the given conditions, or an empty string for none."""
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


def placeholders(count: int) -> str:
    """Return ``?, ?, ?`` with ``count`` marks, for an ``IN (...)`` list."""
    return ", ".join("?" * count)


def _is_busy(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and str(exc).startswith(_BUSY_MESSAGES)


@contextmanager
def sqlite_errors(store: str, operation: str, timeout_s: float) -> Iterator[None]:
    """Turn sqlite3 errors raised inside into ``StoreBusyError`` or ``StoreError`` with context."""
    started = time.monotonic()
    try:
        yield
    except sqlite3.Error as exc:
        waited = time.monotonic() - started
        if _is_busy(exc):
            raise StoreBusyError(
                f"{store}: {operation} gave up after waiting {waited:.2f} s "
                f"(bound {timeout_s:.2f} s): {exc}; another connection holds the write lock"
            ) from exc
        raise StoreError(f"{store}: {operation} failed: {type(exc).__name__}: {exc}") from exc


def _configure(conn: sqlite3.Connection, timeout_s: float) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")


def connect_writer(path: Path, spec: StoreSpec, timeout_s: float) -> sqlite3.Connection:
    """Open ``path`` read-write in WAL mode, creating it and its folder, and migrate it."""
    where = f"{spec.name} ({path})"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{where}: cannot create folder {path.parent}: {exc}") from exc
    if not path.exists():
        _create(path, spec, timeout_s)
    with sqlite_errors(where, "open for writing", timeout_s):
        conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
        try:
            _configure(conn, timeout_s)
            # Refuse a foreign or newer file before switching it to WAL: leave it as found.
            _checked_version(conn, path, spec)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{where}: journal_mode is {mode!r}, WAL could not be set")
            conn.execute("PRAGMA synchronous = NORMAL")
            _migrate(conn, path, spec)
        except BaseException:
            conn.close()
            raise
    return conn


def _create(path: Path, spec: StoreSpec, timeout_s: float) -> None:
    """Build a new store beside ``path`` and move it into place whole.

    A reader that opens the path sees either no file ("start the writer") or a store at the
    current schema version, never an empty or half-migrated one. The file is built in the
    rollback-journal mode so that it is one file to move; the writer then switches it to WAL.
    """
    building = path.with_name(f".{path.name}.creating-{os.getpid()}")
    building.unlink(missing_ok=True)
    with sqlite_errors(f"{spec.name} ({building})", "create", timeout_s):
        conn = sqlite3.connect(building, timeout=timeout_s, isolation_level=None)
        try:
            _configure(conn, timeout_s)
            _migrate(conn, building, spec)
        finally:
            conn.close()
    try:
        os.replace(building, path)
    except OSError as exc:
        building.unlink(missing_ok=True)
        raise StoreError(f"{spec.name}: cannot move the new store into {path}: {exc}") from exc


def _user_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    ).fetchall()
    return [str(row[0]) for row in rows]


def _too_new(path: Path, spec: StoreSpec, found: int) -> SchemaVersionError:
    return SchemaVersionError(
        f"{spec.name} at {path} has schema version {found}, newer than the version "
        f"{spec.version} this pixity knows: upgrade pixity (it was written by a newer release)"
    )


def _foreign(path: Path, spec: StoreSpec, tables: list[str]) -> SchemaVersionError:
    return SchemaVersionError(
        f"{path} has tables ({', '.join(tables)}) but no pixity schema version: it is not a "
        f"pixity {spec.name} (perhaps left by the old pipeline); move it aside and start again"
    )


def _checked_version(conn: sqlite3.Connection, path: Path, spec: StoreSpec) -> int:
    """Return the store's schema version; raise if it is newer or not a pixity store."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > spec.version:
        raise _too_new(path, spec, found)
    if found == 0:
        tables = _user_tables(conn)
        if tables:
            raise _foreign(path, spec, tables)
    return found


def _migrate(conn: sqlite3.Connection, path: Path, spec: StoreSpec) -> None:
    # Read the version inside the write transaction so the check and the upgrade are one step.
    with _immediate(conn):
        found = _checked_version(conn, path, spec)
        if found == spec.version:
            return
        for version in range(found, spec.version):
            spec.migrations[version](conn)
        conn.execute(f"PRAGMA user_version = {spec.version}")
    logger.info("migrated %s at %s from version %d to %d", spec.name, path, found, spec.version)


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        # SQLite may already have rolled back (e.g. after some busy or I/O errors).
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def connect_reader(path: Path, spec: StoreSpec, timeout_s: float) -> sqlite3.Connection:
    """Open ``path`` read-only and check that its schema is the one this code reads."""
    if not path.exists():
        raise StoreMissingError(
            f"{spec.name} not found at {path}: it is written by {spec.writer}; "
            f"start it first (or check --data-dir)"
        )
    where = f"{spec.name} ({path})"
    uri = path.resolve().as_uri() + "?mode=ro"
    with sqlite_errors(where, "open for reading", timeout_s):
        conn = sqlite3.connect(uri, uri=True, timeout=timeout_s, isolation_level=None)
        try:
            _configure(conn, timeout_s)
            conn.execute("PRAGMA query_only = ON")
            found = _checked_version(conn, path, spec)
        except BaseException:
            conn.close()
            raise
    if found < spec.min_read_version:
        conn.close()
        raise SchemaVersionError(
            f"{spec.name} at {path} has schema version {found}, older than the version "
            f"{spec.version} this pixity reads; {spec.writer} migrates it on its next start"
        )
    return conn


class _SqliteStore:
    """A connection to one store file: context manager, ``close()`` and error context."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, spec: StoreSpec, timeout_s: float
    ) -> None:
        self._conn = conn
        self.path = path
        self.spec = spec
        self.timeout_s = timeout_s

    def close(self) -> None:
        """Close the connection; later calls raise ``StoreError``."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """Return the raw connection, for ad-hoc SQL (e.g. ``pandas.read_sql``)."""
        return self._conn

    def _errors(self, operation: str) -> AbstractContextManager[None]:
        return sqlite_errors(f"{self.spec.name} ({self.path})", operation, self.timeout_s)


def _timeout(timeout_s: float) -> float:
    if not timeout_s > 0:
        raise StoreError(f"busy timeout {timeout_s!r} s must be > 0")
    return float(timeout_s)


class SqliteWriter(_SqliteStore):
    """The one read-write connection of a store's writer process."""

    def __init__(
        self, path: str | os.PathLike[str], spec: StoreSpec, *, busy_timeout_s: float
    ) -> None:
        timeout_s = _timeout(busy_timeout_s)
        target = Path(path)
        super().__init__(connect_writer(target, spec, timeout_s), target, spec, timeout_s)

    @contextmanager
    def transaction(self, operation: str) -> Iterator[sqlite3.Connection]:
        """Run the block in one ``BEGIN IMMEDIATE`` … ``COMMIT``; roll back if it raises."""
        with self._errors(operation), _immediate(self._conn) as conn:
            yield conn

    def wal_size_bytes(self) -> int:
        """Return the size of the write-ahead log (0 if there is none), for health."""
        try:
            return os.stat(f"{self.path}-wal").st_size
        except FileNotFoundError:
            return 0


class SqliteReader(_SqliteStore):
    """A read-only connection; each call is its own short read unless inside ``snapshot()``."""

    def __init__(
        self, path: str | os.PathLike[str], spec: StoreSpec, *, busy_timeout_s: float
    ) -> None:
        timeout_s = _timeout(busy_timeout_s)
        target = Path(path)
        super().__init__(connect_reader(target, spec, timeout_s), target, spec, timeout_s)

    def _fetch(self, operation: str, sql: str, params: Sequence[object] = ()) -> list[Row]:
        with self._errors(operation):
            return self._conn.execute(sql, params).fetchall()

    def _rows(
        self,
        table: str,
        sql: str,
        params: Sequence[object],
        build: Callable[[Row], T],
    ) -> list[T]:
        """Fetch rows of ``table`` and rebuild each as a domain object, checking it again."""
        return self._build_all(table, self._fetch(f"read {table}", sql, params), build)

    def _build_all(self, table: str, rows: Sequence[Row], build: Callable[[Row], T]) -> list[T]:
        """Rebuild fetched rows of ``table`` as domain objects, checking each again."""
        out = []
        for row in rows:
            try:
                out.append(build(row))
            except ValueError as exc:  # InvalidValueError, or an enum that has no such value
                raise DataIntegrityError(
                    f"{self.spec.name} ({self.path}): a row of {table} is invalid ({exc}): {row!r}"
                ) from exc
        return out

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read the block's queries from one consistent snapshot; keep the block short."""
        with self._errors("begin snapshot"):
            self._conn.execute("BEGIN")
        try:
            yield
        finally:
            with self._errors("end snapshot"):
                self._conn.execute("COMMIT")

    def data_version(self) -> int:
        """Return a number that changes whenever another connection commits to the store."""
        return int(self._fetch("read data_version", "PRAGMA data_version")[0][0])

    def in_transaction(self) -> bool:
        """Tell whether this reader holds a transaction open (it should not, between calls)."""
        return self._conn.in_transaction
