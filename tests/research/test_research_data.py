"""Scratch data dirs, the sample market in the lake, and 15m bars as train_default makes them."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path

import pytest

from pixity.errors import ConfigError
from pixity.markettime import IST
from pixity.research import data
from pixity.stores.lake import available_dates, read_bars, write_bars
from pixity.strategies.pixity_meta.artifact import frame_sha256
from pixity.strategies.pixity_meta.train_default import sample_bars_15m

SYMBOLS = ["NSE_EQ|INE002A01018", "NSE_EQ|INE467B01029"]
FIRST, LAST = date(2025, 1, 2), date(2025, 1, 3)


def test_an_empty_data_dir_is_a_fresh_scratch_folder_under_the_temp_dir() -> None:
    one, two = data.resolve_data_dir(""), data.resolve_data_dir(None)
    assert one != two
    for path in (one, two):
        assert path.is_dir() and not any(path.iterdir())
        assert path.parent == Path(tempfile.gettempdir())
        assert path.name.startswith(data.SCRATCH_PREFIX)


@pytest.mark.skipif(os.name != "posix", reason="stale folders are found by pid on POSIX")
def test_scratch_folders_of_ended_processes_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the documented override
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    stale = tmp_path / f"{data.SCRATCH_PREFIX}{ended.stdout.strip()}-abc"
    live = tmp_path / f"{data.SCRATCH_PREFIX}{os.getpid()}-def"
    other = tmp_path / f"{data.SCRATCH_PREFIX}not-a-pid"
    for folder in (stale, live, other):
        (folder / "history").mkdir(parents=True)
    made = data.scratch_dir()
    assert made.parent == tmp_path
    assert made.name.startswith(f"{data.SCRATCH_PREFIX}{os.getpid()}-")
    assert not stale.exists() and live.exists() and other.exists()


def test_a_given_data_dir_is_used_as_is(tmp_path: Path) -> None:
    assert data.resolve_data_dir(str(tmp_path / "lake")) == tmp_path / "lake"
    assert not (tmp_path / "lake").exists()


def test_dates_are_iso_text_or_dates_and_ranges_hold_a_trading_day() -> None:
    assert data.as_date("2025-01-02") == data.as_date(date(2025, 1, 2)) == date(2025, 1, 2)
    assert data.trading_days("2025-01-03", "2025-01-06") == [date(2025, 1, 3), date(2025, 1, 6)]
    with pytest.raises(ConfigError, match="is not a date"):
        data.as_date("02/01/2025")
    with pytest.raises(ConfigError, match="datetime"):
        data.as_date(datetime(2025, 1, 2, tzinfo=IST))
    with pytest.raises(ConfigError, match="before start"):
        data.trading_days("2025-01-06", "2025-01-03")
    with pytest.raises(ConfigError, match="no NSE trading day"):
        data.trading_days("2025-01-04", "2025-01-05")  # a weekend


def test_the_sample_lake_reads_back_exactly_and_a_rerun_adds_only_new_days(
    tmp_path: Path,
) -> None:
    written = data.write_sample_lake(tmp_path, SYMBOLS, FIRST, FIRST)
    assert available_dates(tmp_path) == [FIRST]
    assert read_bars(tmp_path, SYMBOLS, FIRST, FIRST).equals(written)
    again = data.write_sample_lake(tmp_path, SYMBOLS, FIRST, LAST)
    assert available_dates(tmp_path) == [FIRST, LAST]
    assert read_bars(tmp_path, SYMBOLS, FIRST, LAST).equals(again)
    assert again[again["bar_ts"].dt.date == FIRST].reset_index(drop=True).equals(written)


def test_bars_that_are_not_the_samples_are_never_replaced(tmp_path: Path) -> None:
    real = data.write_sample_lake(tmp_path, SYMBOLS[:1], FIRST, FIRST, seed=1)
    write_bars(tmp_path, real)
    with pytest.raises(ConfigError, match="not the sample market's"):
        data.write_sample_lake(tmp_path, SYMBOLS, FIRST, LAST, seed=7)
    assert available_dates(tmp_path) == [FIRST]
    assert read_bars(tmp_path).equals(real)


def test_one_string_of_symbols_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not one string"):
        data.write_sample_lake(tmp_path, SYMBOLS[0], FIRST, FIRST)


def test_15m_bars_from_the_lake_are_the_default_artifacts_training_bars(tmp_path: Path) -> None:
    data.write_sample_lake(tmp_path, SYMBOLS, FIRST, LAST)
    ours = data.bars_15m(read_bars(tmp_path, SYMBOLS, FIRST, LAST))
    theirs = sample_bars_15m(SYMBOLS, [FIRST, LAST], 7)
    assert len(ours) == 2 * 2 * 25
    assert ours.equals(theirs)
    assert frame_sha256(ours) == frame_sha256(theirs)
