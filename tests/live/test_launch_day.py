"""``pixity live`` names its run folder after the ingest's session day, waiting (bounded) for it."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import pytest
from live_support import DAY, FakeIngest, sample_bars

from pixity.errors import StoreMissingError
from pixity.live.launch import session_day
from pixity.markettime import ist
from pixity.stores.market import MarketStore
from pixity.stores.paths import StorePaths


def at(hh: int, mm: int) -> datetime:
    return ist(DAY.year, DAY.month, DAY.day, hh, mm)


def test_the_day_is_the_ingests_not_the_machines(tmp_path: Path) -> None:
    ingest = FakeIngest(tmp_path, sample_bars())
    ingest.commit_until(at(9, 20))
    assert session_day(tmp_path, wait_s=0) == DAY  # a past day, replayed
    ingest.close()


def test_it_waits_for_an_ingest_that_has_not_committed_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    MarketStore(StorePaths(tmp_path).market).close()  # the ingest has opened its store only

    def first_commit() -> None:
        ingest = FakeIngest(tmp_path, sample_bars())
        ingest.commit_until(at(9, 16))
        ingest.close()

    timer = threading.Timer(0.5, first_commit)
    timer.start()
    try:
        assert session_day(tmp_path, wait_s=20, poll_s=0.05) == DAY
    finally:
        timer.join()
    assert "waiting for the ingest's first commit" in capsys.readouterr().out


def test_without_an_ingest_it_gives_up_with_what_to_start(tmp_path: Path) -> None:
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    with pytest.raises(StoreMissingError, match=r"after 600 s: start `pixity ingest` first"):
        session_day(tmp_path, monotonic=lambda: clock[0], sleep=sleep)
    assert clock[0] >= 600
