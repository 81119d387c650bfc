"""The benchmarks still run (on tiny inputs) and their two sides agree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.serial  # each benchmark loads the machine with several processes
@pytest.mark.parametrize(
    ("script", "args"),
    [
        ("bench_bars.py", ["--symbols", "2", "--repeat", "1"]),
        ("bench_store.py", ["--ticks", "600"]),
        ("ingest.py", ["--quick"]),
        ("feedserver.py", ["--quick"]),
        ("signal_latency.py", ["--quick"]),
        ("scanner.py", ["--quick"]),
        ("backtest.py", ["--quick"]),
    ],
)
def test_benchmark_runs_and_prints_a_ratio(script: str, args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    assert "ratio" in result.stdout
