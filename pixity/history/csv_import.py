"""Import a broker's CSV export of 1m candles into the history lake.

The file is UTF-8 (a byte-order mark is fine), comma-separated, with a header row naming
``timestamp, open, high, low, close, volume`` in any order and any case. The time column may
instead be called ``date``, ``datetime`` or ``time``; a file with both a ``date`` and a
``time`` column (and no other time column) has its time split over the two. An ``oi``
(open interest) column is allowed and ignored; any other column is refused, so that a file
of another shape is not half understood. Empty trailing cells (a trailing comma) are
dropped. Line numbers in reports are the file's own (the header is line 1).

Nothing is written unless every row checks (``pixity.history.validate``), or the caller
asks to skip bad rows; then all the days are written at once (``pixity.history.writer``).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path

from pixity.errors import ConfigError, InvalidValueError
from pixity.history.validate import BadRow, RawCandle, check_candles
from pixity.history.writer import ImportSummary, write_checked

_FIELDS = ("open", "high", "low", "close", "volume")
_TIME_NAMES = ("timestamp", "datetime", "date", "time")
_IGNORED = frozenset({"oi"})
_EXPECTED = "timestamp,open,high,low,close,volume"


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where each field sits in a row; ``time`` holds one index, or two (date, time)."""

    time: tuple[int, ...]
    fields: tuple[int, int, int, int, int]  # open, high, low, close, volume
    width: int


def import_csv(
    path: str | os.PathLike[str],
    *,
    symbol: str,
    data_dir: str | os.PathLike[str],
    naive_tz: tzinfo,
    skip_bad: bool = False,
) -> ImportSummary:
    """Check every row of the CSV at ``path``, then write its bars for ``symbol``; return what was done.

    Raise ``BadRowsError`` (nothing written) when a row is bad and ``skip_bad`` is False;
    ``InvalidValueError`` for an empty file, no header or no data rows; ``ConfigError`` when
    the file cannot be read.
    """
    source = Path(path)
    candles, unreadable = read_candles(source)
    checked = check_candles(candles, symbol=symbol, naive_tz=naive_tz, unreadable=unreadable)
    return write_checked(data_dir, checked, symbol=symbol, source=str(source), skip_bad=skip_bad)


def read_candles(path: Path) -> tuple[list[RawCandle], list[BadRow]]:
    """Return the file's data rows as unchecked candles, and the rows that cannot be split."""
    candles: list[RawCandle] = []
    unreadable: list[BadRow] = []
    rows = _rows(path)
    header = next(rows, None)
    if header is None:
        raise InvalidValueError(f"{path} is empty: expected a header like {_EXPECTED}")
    layout = _layout(path, *header)
    for line, cells in rows:
        if len(cells) != layout.width:
            reason = f"has {len(cells)} fields, the header has {layout.width}"
            unreadable.append(BadRow(place="line", line=line, reason=reason))
            continue
        ts = " ".join(cells[i].strip() for i in layout.time)
        o, h, lo, c, v = (cells[i] for i in layout.fields)
        candles.append(RawCandle(line=line, ts=ts, open=o, high=h, low=lo, close=c, volume=v))
    if not candles and not unreadable:
        raise InvalidValueError(f"{path} has a header but no data rows")
    return candles, unreadable


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, cells) of each non-blank row, trailing empty cells dropped."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, strict=True)
            start = 1
            for cells in reader:
                while cells and not cells[-1].strip():
                    cells.pop()
                if cells:
                    # A quoted field may span lines: a row is numbered by the line it starts on.
                    yield start, cells
                start = reader.line_num + 1
    except FileNotFoundError:
        raise ConfigError(f"no such file: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InvalidValueError(
            f"{path} is not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    except csv.Error as exc:
        raise InvalidValueError(f"{path} line {start}: not readable as CSV: {exc}") from None


def _layout(path: Path, line: int, header: list[str]) -> _Layout:
    names = [cell.strip().lower() for cell in header]
    if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
        raise InvalidValueError(f"{path} line {line}: columns must be separated by commas")
    if any(_looks_like_data(name) for name in names):
        raise InvalidValueError(
            f"{path} has no header row: line {line} holds data; add a first line {_EXPECTED}"
        )
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise InvalidValueError(f"{path} header repeats columns {duplicated}")
    known = set(_FIELDS) | set(_TIME_NAMES) | _IGNORED
    unknown = [name for name in names if name not in known]
    missing = [name for name in _FIELDS if name not in names]
    if unknown or missing:
        problems = [f"unknown columns {unknown}"] * bool(unknown)
        problems += [f"lacks columns {missing}"] * bool(missing)
        raise InvalidValueError(
            f"{path} header {', '.join(problems)}: expected {_EXPECTED} "
            "(the time column may be date, datetime or time; an oi column is ignored)"
        )
    o, h, lo, c, v = (names.index(name) for name in _FIELDS)
    return _Layout(time=_time_columns(path, names), fields=(o, h, lo, c, v), width=len(names))


def _time_columns(path: Path, names: list[str]) -> tuple[int, ...]:
    present = [name for name in _TIME_NAMES if name in names]
    if len(present) == 1:
        return (names.index(present[0]),)
    if sorted(present) == ["date", "time"]:
        return (names.index("date"), names.index("time"))
    if not present:
        raise InvalidValueError(f"{path} header has no time column: expected {_EXPECTED}")
    raise InvalidValueError(f"{path} header has several time columns {present}: keep one")


def _looks_like_data(cell: str) -> bool:
    """Tell whether a header cell is a value (a number or a date) rather than a name."""
    return bool(cell) and (cell[0].isdigit() or cell[0] in "+-.")
