"""The history lake: 1m bars and ticks as Parquet by date and symbol, read with pyarrow and DuckDB.

Layout under ``<data_dir>/history/``::

    bars_1m/date=YYYY-MM-DD/<symbol>.parquet   symbol, bar_ts, open, high, low, close,
                                               volume, tick_count (``pixity.frames``)
    ticks/date=YYYY-MM-DD/<symbol>.parquet     symbol, ltt, ltp, ltq, vtt, seq, volume

One file per (dataset, date, symbol), named ``urllib.parse.quote(symbol, safe='')`` because
Windows forbids ``|`` in file names. A write replaces each file whole and atomically (a temp
file in the same directory, fsync, ``os.replace``), so a reader sees the old file or the new
one, never half of one. Temp files (``*.tmp``) left by a crash are never read and are removed
by the next write into their directory. Like every store the lake has one writer at a time
(ingest's rollover or an importer); any number of processes may read.

A read loads the files of the dates and symbols asked for, each through one open handle
(see ``_read_file``: this is what keeps a reader from seeing half of a rewrite), then filters
and sorts them: bars with pyarrow, ticks with an in-memory DuckDB connection. No DuckDB file is
ever opened. ``read_day_bars`` gives one day's bars as NumPy columns (``pixity.barcolumns``),
for the backtest, without making a frame at all.

Bar files are written for that read, which a backtest makes of every symbol's file of every
day: LZ4 (``LZ4_RAW``, read by pyarrow, DuckDB, pandas and polars) decompresses faster than
Snappy at the same size; only the symbol is dictionary-encoded (decoding prices through a
dictionary costs more than it saves); statistics are kept for ``symbol`` (a one-symbol file
is proven so without reading the column) and ``bar_ts`` (time filters skip files). A day of
375 bars: 14 KB, read in ~100 µs against ~130 µs with pyarrow's defaults. Files written with
other settings read the same.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import cast

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pixity.barcolumns import DayBars, day_bars
from pixity.domain import Bar, Tick, check_symbol
from pixity.errors import InvalidValueError, StoreError
from pixity.frames import (
    BAR_COLUMNS,
    TICK_COLUMNS,
    bars_from_frame,
    check_bars_frame,
    check_ticks_frame,
    conform_bars_frame,
    conform_ticks_frame,
    empty_bars_frame,
    empty_ticks_frame,
    frame_from_bars,
    frame_from_ticks,
    ticks_from_frame,
)
from pixity.markettime import IST, require_aware, to_epoch_ms, to_ist
from pixity.stores.paths import StorePaths

__all__ = [
    "BARS",
    "TICKS",
    "available_dates",
    "available_symbols",
    "bars_from_frame",
    "file_path",
    "frame_from_bars",
    "frame_from_ticks",
    "read_bars",
    "read_day_bars",
    "read_ticks",
    "ticks_from_frame",
    "write_bars",
    "write_ticks",
]

log = logging.getLogger(__name__)

BARS = "bars_1m"
TICKS = "ticks"
_DATASETS = (BARS, TICKS)

_BAR_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("bar_ts", pa.timestamp("us", tz="Asia/Kolkata")),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.int64()),
        ("tick_count", pa.int64()),
    ]
)
_TICK_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("ltt", pa.int64()),
        ("ltp", pa.float64()),
        ("ltq", pa.int64()),
        ("vtt", pa.int64()),
        ("seq", pa.int64()),
        ("volume", pa.int64()),
    ]
)
# os.replace onto a file a reader holds open fails on Windows; retry briefly, then give up.
_REPLACE_TRIES = 20
_REPLACE_PAUSE_S = 0.05

Bound = date | datetime | None


# ---------------------------------------------------------------- layout


def dataset_root(data_dir: str | os.PathLike[str], dataset: str) -> Path:
    """Return the folder of one dataset (``bars_1m`` or ``ticks``)."""
    if dataset not in _DATASETS:
        raise InvalidValueError(f"unknown lake dataset {dataset!r}; known: {list(_DATASETS)}")
    return StorePaths(data_dir).history / dataset


def file_path(data_dir: str | os.PathLike[str], dataset: str, day: date, symbol: str) -> Path:
    """Return the file holding ``symbol``'s rows of ``dataset`` on ``day``."""
    return dataset_root(data_dir, dataset) / f"date={day.isoformat()}" / _file_name(symbol)


def _file_name(symbol: str) -> str:
    # Cached: a backtest asks for every symbol's file of every day.
    return _quoted_name(symbol) if isinstance(symbol, str) else _quoted_name.__wrapped__(symbol)


@functools.lru_cache(maxsize=4096)
def _quoted_name(symbol: str) -> str:
    return urllib.parse.quote(check_symbol(symbol), safe="") + ".parquet"


def available_dates(data_dir: str | os.PathLike[str], dataset: str = BARS) -> list[date]:
    """Return the dates that hold at least one file of ``dataset``, oldest first."""
    return [
        day for day, folder in _date_dirs(dataset_root(data_dir, dataset)) if _any_file_in(folder)
    ]


def available_symbols(
    data_dir: str | os.PathLike[str], day: date, dataset: str = BARS
) -> list[str]:
    """Return the symbols with a file of ``dataset`` on ``day``, sorted."""
    folder = dataset_root(data_dir, dataset) / f"date={day.isoformat()}"
    return sorted(urllib.parse.unquote(p.name.removesuffix(".parquet")) for p in _files_in(folder))


def _date_dirs(root: Path) -> list[tuple[date, Path]]:
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        text = folder.name.removeprefix("date=")
        if folder.is_dir() and text != folder.name:
            try:
                found.append((date.fromisoformat(text), folder))
            except ValueError:
                log.warning("ignoring lake folder with a bad date: %s", folder)
    return sorted(found)


def _any_file_in(folder: Path) -> bool:
    """Tell whether ``folder`` holds a file ``_files_in`` lists, without listing them all (a
    backtest asks this of every day of the lake)."""
    try:
        with os.scandir(folder) as entries:
            return any(entry.name.endswith(".parquet") for entry in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _files_in(folder: Path) -> list[Path]:
    # Only finished files end in .parquet: temp files end in .tmp and are never read.
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


# ---------------------------------------------------------------- writing


def write_bars(data_dir: str | os.PathLike[str], bars: Sequence[Bar] | pd.DataFrame) -> list[Path]:
    """Write closed 1m bars, one file per (date, symbol); return the files written.

    Each file is replaced whole: give every bar of a (date, symbol), as the rollover and the
    importers do. Everything is checked before anything is written; a bad bar raises
    ``InvalidValueError`` and leaves the lake as it was. Each file is replaced atomically;
    a failure part way through a multi-file write leaves some files new and some old, and
    writing again finishes the job (writes are idempotent).
    """
    frame = _bars_frame(bars)
    days = frame["bar_ts"].dt.date
    return _write_groups(data_dir, BARS, frame, days, _BAR_SCHEMA, "bar_ts", _BAR_WRITE)


def write_ticks(
    data_dir: str | os.PathLike[str], ticks: Sequence[Tick] | pd.DataFrame
) -> list[Path]:
    """Write ticks, one file per (IST date of ``ltt``, symbol); return the files written.

    Like ``write_bars``: checked first, each file replaced whole and atomically.
    """
    raw = ticks if isinstance(ticks, pd.DataFrame) else frame_from_ticks(ticks)
    frame = check_ticks_frame(raw)
    days = pd.to_datetime(frame["ltt"], unit="ms", utc=True).dt.tz_convert(IST).dt.date
    return _write_groups(data_dir, TICKS, frame, days, _TICK_SCHEMA, "seq", {})


def _write_groups(
    data_dir: str | os.PathLike[str],
    dataset: str,
    frame: pd.DataFrame,
    days: pd.Series,
    schema: pa.Schema,
    order: str,
    options: Mapping[str, object],
) -> list[Path]:
    written: list[Path] = []
    cleaned: set[Path] = set()
    for key, group in frame.groupby([days, frame["symbol"]], sort=True):
        day, symbol = cast(tuple[date, str], key)
        path = file_path(data_dir, dataset, day, symbol)
        if path.parent not in cleaned:
            _remove_temp_files(path.parent)
            cleaned.add(path.parent)
        rows = group.sort_values(order, kind="stable")
        table = pa.Table.from_pandas(rows, schema=schema, preserve_index=False)
        _write_atomic(table, path, options)
        written.append(path)
    log.info("wrote %d %s file(s), %d rows, to %s", len(written), dataset, len(frame), data_dir)
    return written


# How bar files are written (see the module): fast to read whole, the same size as Snappy.
_BAR_WRITE: Mapping[str, object] = {
    "compression": "lz4",
    "use_dictionary": ["symbol"],
    "write_statistics": ["symbol", "bar_ts"],
}


def _write_atomic(table: pa.Table, path: Path, options: Mapping[str, object]) -> None:
    """Write ``table`` to ``path`` so that a reader sees the old file or the new, never half."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh, **options)
            fh.flush()
            os.fsync(fh.fileno())
        _replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"could not write lake file {path}: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _replace(tmp: Path, path: Path) -> None:
    for attempt in range(_REPLACE_TRIES):
        try:
            os.replace(tmp, path)
            return
        except PermissionError:
            # Windows refuses while a reader has the old file open; POSIX never gets here.
            if attempt == _REPLACE_TRIES - 1:
                raise
            time.sleep(_REPLACE_PAUSE_S)


def _fsync_dir(folder: Path) -> None:
    # Make the rename itself durable; Windows cannot open a directory, and needs no fsync.
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_temp_files(folder: Path) -> None:
    """Remove temp files a crashed write left; the lake has one writer, so none is live."""
    if not folder.is_dir():
        return
    for stale in folder.glob("*.tmp"):
        if stale.is_file():
            log.warning("removing temp file left by an interrupted write: %s", stale)
            stale.unlink(missing_ok=True)


# ---------------------------------------------------------------- checks


def _bars_frame(bars: Sequence[Bar] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(bars, pd.DataFrame):
        return check_bars_frame(bars)
    for bar in bars:
        if not isinstance(bar, Bar):
            raise InvalidValueError(f"write_bars takes Bar objects, got {type(bar).__name__}")
        if not bar.closed or bar.minutes != 1:
            state = "closed" if bar.closed else "forming"
            raise InvalidValueError(
                f"the lake holds closed 1m bars; got a {state} {bar.timeframe} bar "
                f"{bar.symbol} {bar.ts.isoformat()}"
            )
    return check_bars_frame(frame_from_bars(bars))


# ---------------------------------------------------------------- reading


def read_bars(
    data_dir: str | os.PathLike[str],
    symbols: Sequence[str] | None = None,
    start: Bound = None,
    end: Bound = None,
) -> pd.DataFrame:
    """Return 1m bars of ``symbols`` (None: all) from ``start`` to ``end``, by (symbol, bar_ts).

    Aware datetimes bound ``bar_ts``: ``start`` inclusive, ``end`` exclusive. Dates take
    whole IST days, both included. None leaves that side open. ``bar_ts`` comes back
    tz-aware IST; an empty result still has the columns and dtypes.
    """
    low, high = _bounds(start, end)
    files = _select_files(data_dir, BARS, symbols, low, high)
    if not files:
        return empty_bars_frame()
    table = pa.concat_tables([_read_file(path, _BAR_SCHEMA) for _day, path in files])
    ts = table.column("bar_ts")
    keep = None
    for bound, op in ((low, pc.greater_equal), (high, pc.less)):
        if bound is not None:
            test = op(ts, pa.scalar(bound, type=ts.type))
            keep = test if keep is None else pc.and_(keep, test)
    if keep is not None:
        table = table.filter(keep)
    table = table.sort_by([("symbol", "ascending"), ("bar_ts", "ascending")])
    return conform_bars_frame(table.to_pandas())


def read_day_bars(
    data_dir: str | os.PathLike[str], symbols: Sequence[str], day: date
) -> DayBars | None:
    """Return ``day``'s 1m bars of ``symbols`` as columns, or None where they need ``read_bars``.

    The same bars as ``read_bars(data_dir, symbols, day, day)``, read straight into NumPy from
    the day's folder (``write_bars`` keeps each day's bars in its own). None when a file holds
    something the columns do not (rows of another symbol or day, missing values, bars off the
    session's minutes or out of order, values a ``Bar`` refuses): the caller then reads them
    with ``read_bars``, which keeps or refuses them as it always did. A day with no file for
    any of ``symbols`` gives empty columns.
    """
    if isinstance(symbols, str):
        raise InvalidValueError("symbols must be a sequence of instrument keys, not one string")
    folder = dataset_root(data_dir, BARS) / f"date={day.isoformat()}"
    prefix = f"{folder}{os.sep}"  # paths joined as text: pathlib costs more than the read
    names, tables = [], []
    for symbol in sorted(set(symbols)):
        name = prefix + _file_name(symbol)
        try:
            with open(name, "rb", buffering=0) as fh:  # one read of a small file, unbuffered
                data = fh.readall()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreError(f"could not read lake file {name}: {exc}") from exc
        table = _day_file(data, name, symbol)
        if table is None:
            return None
        if table.num_rows:
            names.append(symbol)
            tables.append(table)
    if not tables:
        return day_bars(day, [], [], *_no_columns())
    table = pa.concat_tables(tables)
    if any(column.null_count for column in table.columns):
        return None
    counts = [t.num_rows for t in tables]
    ts = table.column("bar_ts").cast(pa.int64()).to_numpy()
    o, h, lo, c, v, n = (table.column(name).to_numpy() for name in BAR_COLUMNS[2:])
    return day_bars(day, names, counts, ts, (o, h, lo, c), v, n)


_DAY_SCHEMA = pa.schema([f for f in _BAR_SCHEMA if f.name != "symbol"])


def _day_file(data: bytes, path: str, symbol: str) -> pa.Table | None:
    """Return one file's columns but the symbol, or None if it holds rows of another symbol.

    Where the file's statistics show every row group's symbols are ``symbol`` and none is
    missing (min = max = ``symbol``, no nulls: what ``write_bars`` writes), the symbol column
    is not read at all; otherwise it is read dictionary-encoded (a file of one symbol has a
    one-entry dictionary, checked without making a string per row).
    """
    try:
        reader = pq.ParquetReader()
        reader.open(pa.BufferReader(data), pre_buffer=False, read_dictionary=["symbol"])
        try:  # the Parquet columns (leaves) of the symbol and of the rest
            at = reader.column_name_idx("symbol")
            wanted = [reader.column_name_idx(name) for name in _DAY_SCHEMA.names]
        except KeyError:
            at = -1  # a column is missing: the full read below says which
        if at >= 0 and _one_symbol_by_statistics(reader.metadata, at, symbol):
            table = reader.read_all(column_indices=wanted, use_threads=False)
            return table if table.schema.equals(_DAY_SCHEMA) else table.cast(_DAY_SCHEMA)
        table = reader.read_all(use_threads=False)
        labels = table.column("symbol")
        table = table.select(_DAY_SCHEMA.names)
        if not table.schema.equals(_DAY_SCHEMA):
            table = table.cast(_DAY_SCHEMA)
    except (OSError, pa.ArrowException, KeyError) as exc:
        raise StoreError(f"could not read lake file {path}: {exc}") from exc
    if labels.null_count or not pa.types.is_dictionary(labels.type):
        return None
    for chunk in labels.chunks:
        if len(chunk) and chunk.dictionary.to_pylist() != [symbol]:
            return None
    return table


def _one_symbol_by_statistics(metadata: pq.FileMetaData, column: int, symbol: str) -> bool:
    """Tell whether the statistics prove every row's ``column`` is ``symbol`` (False: unknown)."""
    for group in range(metadata.num_row_groups):
        chunk = metadata.row_group(group).column(column)
        stats = chunk.statistics
        if (
            chunk.path_in_schema != "symbol"
            or stats is None
            or not stats.has_min_max
            or not stats.has_null_count
            or stats.null_count != 0
            or stats.min != symbol
            or stats.max != symbol
        ):
            return False
    return True


def _no_columns() -> tuple[
    np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray, np.ndarray
]:
    floats = np.zeros(0, dtype=np.float64)
    ints = np.zeros(0, dtype=np.int64)
    return ints, (floats, floats, floats, floats), ints, ints


def read_ticks(
    data_dir: str | os.PathLike[str],
    symbols: Sequence[str] | None = None,
    start: Bound = None,
    end: Bound = None,
) -> pd.DataFrame:
    """Return ticks of ``symbols`` (None: all) from ``start`` to ``end`` in receive order.

    Bounds work as in ``read_bars`` on the tick's exchange time ``ltt``. Rows are ordered by
    date, then ``seq``: the order ingest received them in.
    """
    low, high = _bounds(start, end)
    files = _select_files(data_dir, TICKS, symbols, low, high)
    if not files:
        return empty_ticks_frame()
    sql = (
        f"SELECT {', '.join(TICK_COLUMNS)} FROM lake "
        "WHERE ($low IS NULL OR ltt >= $low) AND ($high IS NULL OR ltt < $high) "
        "ORDER BY day, seq, symbol"
    )
    params = {
        "low": None if low is None else to_epoch_ms(low),
        "high": None if high is None else to_epoch_ms(high),
    }
    return conform_ticks_frame(_query(_load(files, _TICK_SCHEMA), sql, params))


def _bounds(start: Bound, end: Bound) -> tuple[datetime | None, datetime | None]:
    """Turn the bounds into aware datetimes: start inclusive, end exclusive."""
    low = high = None
    if isinstance(start, datetime):
        low = require_aware(start, "start")
    elif isinstance(start, date):
        low = datetime.combine(start, datetime.min.time(), tzinfo=IST)
    if isinstance(end, datetime):
        high = require_aware(end, "end")
    elif isinstance(end, date):
        high = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=IST)
    return low, high


def _select_files(
    data_dir: str | os.PathLike[str],
    dataset: str,
    symbols: Sequence[str] | None,
    low: datetime | None,
    high: datetime | None,
) -> list[tuple[date, Path]]:
    """List the files that can hold rows in range, opening only the date folders in range."""
    if isinstance(symbols, str):
        raise InvalidValueError("symbols must be a sequence of instrument keys, not one string")
    names = None if symbols is None else {_file_name(s) for s in symbols}
    first = date.min if low is None else to_ist(low).date()
    last = date.max if high is None else to_ist(high).date()
    files: list[tuple[date, Path]] = []
    for day, folder in _date_dirs(dataset_root(data_dir, dataset)):
        if first <= day <= last:
            files += [(day, f) for f in _files_in(folder) if names is None or f.name in names]
    return files


def _load(files: list[tuple[date, Path]], schema: pa.Schema) -> pa.Table:
    """Read the files into one table, each through a single open handle, with its ``day``.

    DuckDB's ``read_parquet`` (and pyarrow's path readers) open a file by name more than
    once per query, footer first and data later; a rewrite in between tears the read.
    Reading each file's bytes through one handle pins one version: ``os.replace`` swaps the
    name, never the content of an open file.
    """
    tables = []
    for day, path in files:
        table = _read_file(path, schema)
        days = pa.array([day] * table.num_rows, type=pa.date32())
        tables.append(table.append_column("day", days))
    return pa.concat_tables(tables)


def _read_file(path: Path, schema: pa.Schema) -> pa.Table:
    """Read one lake file through a single open handle (see ``_load``), cast to ``schema``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"could not read lake file {path}: {exc}") from exc
    try:
        # The low-level reader: pq.read_table goes through the dataset layer, ten times slower
        # on files of a few hundred rows.
        reader = pq.ParquetReader()
        reader.open(pa.BufferReader(data), pre_buffer=False)
        table = reader.read_all(use_threads=False).select(schema.names)
        return table if table.schema.equals(schema) else table.cast(schema)
    except (OSError, pa.ArrowException, KeyError) as exc:
        raise StoreError(f"could not read lake file {path}: {exc}") from exc


def _query(table: pa.Table, sql: str, params: Mapping[str, object]) -> pd.DataFrame:
    """Run ``sql`` over ``table`` (as ``lake``) in a fresh in-memory DuckDB; IST timestamps."""
    try:
        with duckdb.connect(":memory:") as con:
            con.execute("SET TimeZone = 'Asia/Kolkata'")
            con.register("lake", table)
            frame: pd.DataFrame = con.execute(sql, dict(params)).df()
            return frame
    except duckdb.Error as exc:
        raise StoreError(f"could not query the history lake: {exc}") from exc
