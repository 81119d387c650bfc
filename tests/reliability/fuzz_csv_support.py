"""A grammar of broker CSV exports for the importer's fuzz tests, with the outcome each must have.

Every drawn file knows which of its data rows are good and which carry exactly one defect,
and the physical line each row sits on, so the test can ask for the exact outcome: a clean
import of the good rows, or a ``BadRowsError`` naming exactly the bad lines.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import strategies as st

from pixity.domain import Bar
from pixity.markettime import IST
from pixity.stores.lake import write_bars

KEY = "NSE_EQ|INE155A01022"
DAYS = (date(2025, 6, 2), date(2025, 6, 3))  # a Monday and a Tuesday, both trading days
SLOTS = [(day, minute) for day in DAYS for minute in range(375)]  # every 1m bar open
BEFORE = (date(2025, 6, 2), date(2025, 6, 4))  # days in the lake before the import


@dataclass(frozen=True)
class Row:
    """One data row: its cells, the bar it must become (None = bad), its physical line."""

    cells: list[str]
    bar: tuple[datetime, float, float, float, float, int] | None
    line: int = 0


def slot_time(slot: tuple[date, int]) -> datetime:
    day, minute = slot
    return datetime.combine(day, datetime.min.time(), IST) + timedelta(hours=9, minutes=15 + minute)


def written_time(when: datetime, style: int) -> str:
    """Return ``when`` in one of the ISO 8601 spellings brokers use."""
    utc = when.astimezone(UTC)
    return (
        when.strftime("%Y-%m-%d %H:%M:%S"),  # naive: taken in IST
        when.strftime("%Y-%m-%dT%H:%M"),
        when.isoformat(),  # +05:30
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )[style % 4]


BAD_TIMES = (
    "2025-06-02 25:00", "yesterday", "", "2025-06-02 09:15:30", "2025-06-02 15:30",
    "2025-06-01 10:00", "2025-06-02 09:00", "2025-13-02 10:00", "02/06/2025 10:00",
    "2025-06-02T10:00:00+25:00", "9999-12-31 10:00",
    "9999-12-31T23:59:00-05:00", "0001-01-01T00:00:00+14:00",  # past datetime's ends in IST
)  # fmt: skip
BAD_PRICES = ("abc", "-1", "0", "nan", "inf", "1e400", "", '"1,5"', "0x10", "1.2.3")
BAD_VOLUMES = ("-5", "1.5", "x", "", "1e30", "NaN", "9223372036854775808", "9" * 5000)
DEFECTS = (
    "time",
    "duplicate",
    "price",
    "high_below_low",
    "open_outside",
    "volume",
    "extra",
    "short",
)


@st.composite
def good_row(draw: st.DrawFn, slot: tuple[date, int]) -> Row:
    paise = draw(st.lists(st.integers(5, 5_000_000), min_size=4, max_size=4))
    low, high = min(paise) / 100, max(paise) / 100
    o, c = paise[0] / 100, paise[1] / 100
    volume = draw(st.integers(0, 2**40))
    when = slot_time(slot)
    cells = [written_time(when, draw(st.integers(0, 3))), repr(o), repr(high), repr(low), repr(c)]
    return Row(cells=[*cells, str(volume)], bar=(when, o, high, low, c, volume))


@st.composite
def bad_row(draw: st.DrawFn, slot: tuple[date, int], earlier: list[Row]) -> Row:
    base = draw(good_row(slot))
    cells = list(base.cells)
    defect = draw(st.sampled_from(DEFECTS))
    if defect == "duplicate" and any(r.bar for r in earlier):
        twin = draw(st.sampled_from([r for r in earlier if r.bar]))
        assert twin.bar is not None
        cells[0] = written_time(twin.bar[0], draw(st.integers(0, 3)))
    elif defect in ("time", "duplicate"):
        cells[0] = draw(st.sampled_from(BAD_TIMES))
    elif defect == "price":
        cells[draw(st.integers(1, 4))] = draw(st.sampled_from(BAD_PRICES))
    elif defect == "high_below_low":
        cells[2], cells[3] = "1.0", "2.0"
    elif defect == "open_outside":
        cells[1] = repr(float(cells[2]) * 2)
    elif defect == "volume":
        cells[5] = draw(st.sampled_from(BAD_VOLUMES))
    elif defect == "extra":
        cells.append("7")
    else:
        cells.pop()
    return Row(cells=cells, bar=None)


@dataclass(frozen=True)
class Export:
    """A drawn CSV file: its bytes and its rows (with their lines)."""

    data: bytes
    rows: list[Row]

    @property
    def good(self) -> list[Row]:
        return [r for r in self.rows if r.bar is not None]

    @property
    def bad_lines(self) -> list[int]:
        return [r.line for r in self.rows if r.bar is None]


HEADERS = (
    ["timestamp", "open", "high", "low", "close", "volume"],
    ["Date", "Open", "High", "Low", "Close", "Volume"],
    ["DATETIME", "OPEN", "HIGH", "LOW", "CLOSE", "VOLUME"],
    ["time", "open", "high", "low", "close", "volume"],
)


@st.composite
def exports(draw: st.DrawFn) -> Export:
    """Draw a CSV export: header, good and bad rows, blank lines, BOM, line endings, quoting."""
    picks = draw(st.lists(st.integers(0, len(SLOTS) - 1), min_size=1, max_size=30, unique=True))
    rows: list[Row] = []
    for slot in (SLOTS[i] for i in picks):  # a time of its own for every row
        if draw(st.integers(0, 3)) == 0:
            rows.append(draw(bad_row(slot, rows)))
        else:
            rows.append(draw(good_row(slot)))
    header = list(draw(st.sampled_from(HEADERS)))
    with_oi = draw(st.booleans())
    if with_oi:
        header.append("oi")
    order = draw(st.permutations(range(len(header))))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    quote_all = draw(st.booleans())
    lines = [",".join(header[i] for i in order)]
    placed: list[Row] = []
    for row in rows:
        while draw(st.integers(0, 9)) == 9:
            lines.append("")  # a blank line: skipped, but it counts in the numbering
        cells = row.cells + (["123"] if with_oi else [])
        if len(cells) == len(header):
            cells = [cells[i] for i in order]  # a short or long row stays as written
        if quote_all:
            cells = ['"' + c.replace('"', '""') + '"' for c in cells]
        lines.append(",".join(cells))
        placed.append(Row(cells=row.cells, bar=row.bar, line=len(lines)))
    text = newline.join(lines) + draw(st.sampled_from(["", newline, newline * 2]))
    bom = "\ufeff" if draw(st.booleans()) else ""
    return Export(data=(bom + text).encode("utf-8"), rows=placed)


def lake_snapshot(data_dir: Path) -> dict[str, bytes]:
    """Return every file under ``data_dir`` with its bytes."""
    return {
        str(p.relative_to(data_dir)): p.read_bytes()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file()
    }


def seeded_lake(template: Path) -> Path:
    """Write a lake holding bars of ``KEY`` on ``BEFORE`` days (once); return it."""
    if not template.exists():
        bars = [
            Bar(symbol=KEY, ts=slot_time((day, 374)), minutes=1, open=10.0, high=11.0, low=9.0,
                close=10.5, volume=42, tick_count=0, closed=True)
            for day in BEFORE
        ]  # fmt: skip
        write_bars(template, bars)
    return template


def copy_lake(template: Path, target: Path) -> Path:
    """Copy the seeded lake to ``target``; return it."""
    shutil.copytree(template, target)
    return target
