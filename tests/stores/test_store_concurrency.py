"""One writer and four reader processes on market.db: no errors, only whole transactions seen."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pixity.stores import MarketReader, MarketStore, StorePaths

WORKER = Path(__file__).with_name("store_stress_worker.py")
READ_SECONDS = 20.0
READERS = 4
RATE = 2_000  # ticks a second


def start(role: str, db: Path, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), role, str(db), str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        pytest.fail(f"worker {proc.args} ran past its bound:\n{err}")
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Error" not in err, err
    return dict(json.loads(out.strip().splitlines()[-1]))


@pytest.mark.slow
@pytest.mark.serial  # five processes that want every core, and a floor on their reads
def test_one_writer_four_readers_see_only_whole_transactions(tmp_path: Path) -> None:
    db = StorePaths(tmp_path).market
    MarketStore(db).close()  # created and migrated before anyone reads it
    started = time.monotonic()
    writer = start("writer", db, READ_SECONDS + 1.0)
    readers = [start("reader", db, READ_SECONDS) for _ in range(READERS)]
    results = [finish(proc, READ_SECONDS + 30) for proc in readers]
    written = finish(writer, 30)
    took = time.monotonic() - started

    for result in results:
        assert result["mismatches"] == 0, result["first_mismatch"]
        assert result["reads"] > 100
        assert result["max_ticks"] > 0
    assert written["ticks"] == written["batches"] * 100
    assert written["ticks"] / written["seconds"] >= 0.9 * RATE, written
    with MarketReader(db) as reader:
        assert reader.count_ticks() == written["ticks"]
        bars = reader.bars_1m()
        assert sum(bar.tick_count for bar in bars) == written["ticks"]
    print(f"\nload test: {took:.1f} s, writer {written}, readers {results}")
