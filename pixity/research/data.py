"""Data for the research notebooks: a scratch data dir, the sample market in the lake, 15m bars.

A notebook's ``data_dir`` parameter defaults to ``""``: ``resolve_data_dir`` then makes a fresh
scratch folder under the system's temp dir (removed when the kernel exits), so running a
research notebook never touches ``data/``. ``write_sample_lake`` fills a lake with the seeded
sample market and refuses to replace bars that are not the sample's: pointed at a real lake it
adds the sample's missing days but never overwrites what is there.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from pixity.bars import resample
from pixity.errors import ConfigError
from pixity.frames import bars_from_frame, frame_from_bars
from pixity.markettime import nse_calendar
from pixity.processes import is_alive
from pixity.sample import SampleMarket
from pixity.stores.lake import read_bars, write_bars

log = logging.getLogger(__name__)

SCRATCH_PREFIX = "pixity-research-"
_SCRATCH_RE = re.compile(rf"^{SCRATCH_PREFIX}(\d+)-")


def scratch_dir(*, keep: bool = False) -> Path:
    """Return a new empty folder under the temp dir; removed at exit unless ``keep``.

    A kernel that is killed (nbval stops its kernels so) runs no exit handler: the folder is
    named after its process, and the next ``scratch_dir`` removes those of processes gone.
    """
    _remove_stale(Path(tempfile.gettempdir()))
    path = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
    if not keep:
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _remove_stale(root: Path) -> None:
    """Remove the scratch folders under ``root`` whose process has ended."""
    for folder in root.glob(f"{SCRATCH_PREFIX}*"):
        match = _SCRATCH_RE.match(folder.name)
        if match is None or not folder.is_dir() or is_alive(int(match.group(1))):
            continue
        log.info("removing the scratch folder of an ended process: %s", folder)
        shutil.rmtree(folder, ignore_errors=True)


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """Return ``data_dir`` as a path; an empty one (``""`` or None) gives a ``scratch_dir``."""
    if data_dir is None or str(data_dir) == "":
        return scratch_dir()
    return Path(data_dir)


def as_date(value: date | str) -> date:
    """Return ``value`` as a date; text is ISO ``YYYY-MM-DD``."""
    if isinstance(value, datetime):
        raise ConfigError(f"{value!r} is a datetime: give a date (a whole IST day)")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{value!r} is not a date like '2025-01-02'") from None


def trading_days(start: date | str, end: date | str) -> list[date]:
    """Return the NSE trading days from ``start`` to ``end``, both included (at least one)."""
    first, last = as_date(start), as_date(end)
    if last < first:
        raise ConfigError(f"end {last} is before start {first}")
    days = nse_calendar().trading_days(first, last)
    if not days:
        raise ConfigError(f"no NSE trading day from {first} to {last}")
    return list(days)


def write_sample_lake(
    data_dir: str | os.PathLike[str],
    symbols: Sequence[str],
    start: date | str,
    end: date | str,
    *,
    seed: int = 7,
) -> pd.DataFrame:
    """Write the sample market's 1m bars of ``symbols`` from ``start`` to ``end`` into the lake.

    Return every sample bar of the range (the lake's columns, by symbol and time). A
    (day, symbol) the lake already holds is left as it is if it is the sample's and refused
    with a ``ConfigError`` if it is not, so real bars are never replaced.
    """
    if isinstance(symbols, str):
        raise ConfigError("symbols must be a list of instrument keys, not one string")
    days = trading_days(start, end)
    frame = SampleMarket(list(symbols), seed=seed).bars_frame(days)
    held = read_bars(data_dir, list(symbols), days[0], days[-1])
    keys = _day_keys(frame)
    held_keys = set(_day_keys(held))
    present = keys.isin(held_keys)
    if not held.equals(frame.loc[present.to_numpy()].reset_index(drop=True)):
        raise ConfigError(
            f"the lake in {data_dir} already holds bars of these symbols and days that are not "
            f"the sample market's (seed {seed}): give an empty data_dir, or '' for a scratch one"
        )
    missing = frame.loc[~present.to_numpy()]
    if not missing.empty:
        write_bars(data_dir, missing)
    log.info("sample lake: %d bars, %d already there", len(frame), int(present.sum()))
    return frame


def _day_keys(bars: pd.DataFrame) -> pd.Series:
    """Return each row's (symbol, IST date) as text, to match rows of one lake file."""
    day = bars["bar_ts"].dt.tz_convert("Asia/Kolkata").dt.strftime("%Y-%m-%d")
    keys: pd.Series = bars["symbol"].astype(str) + " " + day
    return keys


def bars_15m(bars_1m: pd.DataFrame, minutes: int = 15) -> pd.DataFrame:
    """Return 1m bars resampled to ``minutes`` (anchored at 09:15) as the live session does.

    The same path as ``train_default.sample_bars_15m``, so a model trained on the result
    matches the default artifact's numbers when symbols, days and seed match.
    """
    return frame_from_bars(resample(bars_from_frame(bars_1m), minutes))
