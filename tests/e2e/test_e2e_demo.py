"""`pixity demo --duration 90 --speed 120` on an empty data dir, headless, as `make demo` runs it.

(Twice the demo's speed, for make test's time: the same two hours and more of the session.)
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from procs import poll

# serial: it counts the machine's Jupyter kernels, which other tests' sessions would add to.
pytestmark = [pytest.mark.slow, pytest.mark.serial]

KEYS = {
    "NSE_EQ|INE155A01022", "NSE_EQ|INE118H01025", "NSE_EQ|INE002A01018",
    "NSE_EQ|INE467B01029", "NSE_EQ|INE040A01034", "NSE_EQ|INE009A01021",
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sql(db: Path, query: str) -> list[list[str]]:
    out = subprocess.run(["sqlite3", "-separator", "\t", str(db), query],
                         capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    return [line.split("\t") for line in out.stdout.splitlines()]


def descendants(pid: int) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True, timeout=10)
    children: dict[int, list[tuple[int, str]]] = {}
    for line in out.stdout.splitlines()[1:]:
        child, parent, args = line.split(None, 2)
        children.setdefault(int(parent), []).append((int(child), args))
    found, todo = [], [pid]
    while todo:
        for child, args in children.get(todo.pop(), []):
            found.append(args)
            todo.append(child)
    return found


def scanner_shows_every_key(url: str) -> None:
    """Load the demo's scanner in headless Chromium, as a user would: every key is a row."""
    from test_e2e_scanner import CHROMIUM, DRIVER, browser, rows

    if CHROMIUM is None or DRIVER is None:
        pytest.fail("Debian's chromium and chromium-driver are missing: `make test` installs them")
    driver = browser()
    try:
        driver.get(url)  # type: ignore[attr-defined]
        poll(lambda: set(rows(driver)) == KEYS, timeout=90, what="every key in the scanner")
    finally:
        driver.quit()  # type: ignore[attr-defined]


def kernels() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "ipykernel_launcher"], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def test_demo_runs_everything_and_leaves_nothing_behind(tmp_path: Path) -> None:
    port = free_port()
    kernels_before = kernels()
    log = tmp_path / "demo.out"
    with log.open("w") as sink:
        demo = subprocess.Popen(
            [sys.executable, "-m", "pixity", "demo", "--duration", "90", "--speed", "120", "--port", str(port),
             "--data-dir", str(tmp_path), "--date", "2026-11-27"],
            stdout=sink, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        poll(lambda: "pixity demo is running" in log.read_text() or demo.poll() is not None,
             timeout=240, what="the demo up")  # fmt: skip
        assert demo.poll() is None, log.read_text()
        scanner_shows_every_key(f"http://127.0.0.1:{port}/")
        demo.wait(timeout=400)
    out = log.read_text()
    assert demo.returncode == 0, out
    assert f"http://127.0.0.1:{port}/" in out and "pixity health" in out
    assert "pixityAI_meta" in out  # the default strategy, with its shipped model
    data = tmp_path / "demo" / "data"
    signals = sql(data / "signals/signals.db", "SELECT symbol, bar_ts FROM signals;")
    assert signals, out
    grid = {f"{9 + (15 + 15 * i) // 60:02d}:{(15 + 15 * i) % 60:02d}" for i in range(25)}
    assert all(bar_ts.endswith(":00+05:30") and bar_ts[11:16] in grid for _, bar_ts in signals)
    assert sql(data / "signals/signals.db", "SELECT COUNT(*) FROM signals WHERE bar_ts IS NULL;") == [["0"]]  # fmt: skip
    runners = sql(data / "config/config.db", "SELECT symbol, timeframe, status FROM runner_state;")
    assert {r[0] for r in runners} == KEYS and all(r[1:] == ["15m", "STOPPED"] for r in runners)
    logs = list((tmp_path / "demo" / "logs").glob("*.log")) + list((data / "runs").rglob("*.log"))
    assert len(logs) >= 5
    for log in logs:
        text = log.read_text()
        assert " ERROR " not in text and "Traceback" not in text, log
    assert list((data / "runs").rglob("live_session-*.ipynb")), "the session's report"
    assert descendants(demo.pid) == []
    assert kernels() <= kernels_before, "the session's and the scanner's kernels are gone"
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", leftover.stdout
