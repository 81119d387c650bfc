"""The ``pixity`` command line as a user runs it: real processes, real files."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from pixity.stores.lake import available_dates, read_bars

KEYS = ["NSE_EQ|INE155A01022", "NSE_EQ|INE118H01025"]


def pixity(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pixity", *args], capture_output=True, text=True, timeout=120
    )


def test_history_sample_then_list(tmp_path: Path) -> None:
    made = pixity(
        "history", "sample", "--data-dir", str(tmp_path), "--symbols", *KEYS,
        "--from", "2025-02-25", "--to", "2025-02-28",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    # 2025-02-26 is a holiday (Mahashivratri): three trading days.
    assert available_dates(tmp_path) == [date(2025, 2, 25), date(2025, 2, 27), date(2025, 2, 28)]
    bars = read_bars(tmp_path, KEYS, date(2025, 2, 25), date(2025, 2, 28))
    assert set(bars["symbol"]) == set(KEYS)
    assert "wrote" in made.stdout and str(len(bars)) in made.stdout
    listed = pixity("history", "list", "--data-dir", str(tmp_path))
    assert listed.returncode == 0
    assert "3 dates: 2025-02-25 .. 2025-02-28" in listed.stdout


def test_history_list_on_an_empty_data_dir_says_what_to_do(tmp_path: Path) -> None:
    listed = pixity("history", "list", "--data-dir", str(tmp_path))
    assert listed.returncode == 0
    assert "pixity history sample" in listed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbols", "INE155A01022", "--from", "2025-06-02", "--to", "2025-06-03"],
         "instrument key 'INE155A01022'"),
        (["--symbols", KEYS[0], "--from", "02-06-2025", "--to", "2025-06-03"],
         "not a date like 2025-06-02"),
        (["--symbols", KEYS[0], "--from", "2025-06-03", "--to", "2025-06-02"],
         "--to 2025-06-02 is before --from 2025-06-03"),
        (["--symbols", KEYS[0], "--from", "2025-06-07", "--to", "2025-06-08"],
         "no NSE trading day"),
        (["--symbols", KEYS[0], "--from", "2099-01-01", "--to", "2099-01-02"],
         "upgrade exchange-calendars"),
    ],
)  # fmt: skip
def test_bad_flags_get_one_clear_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = pixity("history", "sample", "--data-dir", str(tmp_path), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert available_dates(tmp_path) == []  # nothing half-written


def test_no_command_prints_help_and_exits_2() -> None:
    result = pixity()
    assert result.returncode == 2
    assert "history" in result.stdout
