"""Write checked candles into the history lake, all or nothing, and say what was done.

The lake replaces each (date, symbol) file whole and atomically (``pixity.stores.lake``), so
an import hands it every bar of each day at once, and only after the whole source checked:
a bad row stops the import before any file is touched, unless the caller asked to skip bad
rows, in which case the good ones are written and the bad ones listed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date, datetime

from pixity.history.validate import BadRow, BadRowsError, Checked, format_bad_rows
from pixity.markettime import format_ts
from pixity.stores.lake import BARS, file_path, write_bars

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportSummary:
    """What one import or fetch of one symbol did."""

    symbol: str
    source: str
    rows: int  # rows (candles) the source held
    written: int  # bars written
    days: tuple[date, ...]  # trading days written, oldest first
    first: datetime | None  # open time of the first bar written
    last: datetime | None
    skipped: tuple[BadRow, ...]  # bad rows left out (only with skip_bad)
    replaced: tuple[date, ...]  # days whose file for this symbol existed and was replaced

    def lines(self) -> list[str]:
        """Return the summary as lines for a terminal."""
        if not self.written or self.first is None or self.last is None:
            return [f"{self.symbol}: {self.source} held no candles; nothing written"]
        out = [
            f"{self.symbol}: wrote {self.written} 1m bars over {len(self.days)} trading "
            f"day{'s' * (len(self.days) != 1)} from {self.source}",
            f"  first bar {format_ts(self.first)}, last bar {format_ts(self.last)}",
            f"  rows read {self.rows}, written {self.written}, skipped {len(self.skipped)}",
        ]
        if self.replaced:
            out.append(f"  replaced {len(self.replaced)} day(s) already in the lake")
        if self.skipped:
            out.append(f"  {len(self.skipped)} bad rows skipped (--skip-bad):")
            out.append(format_bad_rows(self.skipped))
        return out


def write_checked(
    data_dir: str | os.PathLike[str],
    checked: Checked,
    *,
    symbol: str,
    source: str,
    skip_bad: bool,
    hint: str = "--skip-bad writes the good rows",
) -> ImportSummary:
    """Write ``checked``'s bars into the lake; return what was done.

    Raise ``BadRowsError`` (nothing written) when a row is bad and ``skip_bad`` is False, or
    when rows are bad and none is good.
    """
    if checked.bad and (not skip_bad or not checked.bars):
        raise BadRowsError(source, checked.bad, checked.rows, hint if not skip_bad else "")
    replaced = tuple(day for day in checked.days if file_path(data_dir, BARS, day, symbol).exists())
    if checked.bars:
        write_bars(data_dir, list(checked.bars))
        log.info(
            "imported %d bars of %s from %s (%d bad rows skipped)",
            len(checked.bars),
            symbol,
            source,
            len(checked.bad),
        )
    return ImportSummary(
        symbol=symbol,
        source=source,
        rows=checked.rows,
        written=len(checked.bars),
        days=checked.days,
        first=checked.bars[0].ts if checked.bars else None,
        last=checked.bars[-1].ts if checked.bars else None,
        skipped=checked.bad,
        replaced=replaced,
    )
