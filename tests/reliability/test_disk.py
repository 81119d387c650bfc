"""Disk faults under a real ``pixity ingest`` fed by a real ``pixity feed-server`` at speed.

Two faults, mid-run, while the market runs at 60x:

- the live buffer's store turns read-only: every write to market.db and its WAL fails with
  EROFS (``disk_support.ReadOnly``; its docstring says why chmod cannot do this), while the
  journal beside it still takes frames;
- the disk fills: the whole live buffer, journal included, on a small tmpfs filled to the
  last byte.

Each time /health must say so within 5 s (status degraded, the failure counted, its error
given), the ingest must go on receiving, and once the disk takes writes again everything
resumes and nothing is lost: the ingest's journal holds every frame the server sent, in
order, and the stored 1m bars are the bars of the ticks the server sent.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from disk_support import (
    KEYS,
    TOKEN,
    Proc,
    ReadOnly,
    fill,
    get_json,
    mount_problem,
    poll,
    strace_problem,
    tmpfs,
    wait_report,
)
from fuzz_support import sent_ticks
from suite import SOAK, record

from pixity.bars import bars_from_ticks
from pixity.domain import Bar
from pixity.feeds.journal import read_journal
from pixity.markettime import ist
from pixity.stores.market import MarketReader
from pixity.stores.paths import StorePaths

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900 if SOAK else 240)]

REPORT_WITHIN_S = 5.0
DAY_START = ist(2025, 6, 2, 9, 15)
FAULT_S = 30.0 if SOAK else 3.0  # how long the disk stays unwritable after it is reported
CYCLES = 3 if SOAK else 1
TMPFS_SIZE = "64m"  # room for a soak's store and journal; the filler takes what is left


@dataclass
class Run:
    tmp: Path
    data: Path
    exchange: Proc
    ingest: Proc
    health: str

    @property
    def journal(self) -> Path:
        return StorePaths(self.data).market.parent / "journal" / "2025-06-02.journal"


def start(tmp: Path, data: Path) -> Run:
    exchange = Proc(
        ["feed-server", "--symbols", *KEYS, "--port", "0", "--seed", "7", "--speed", "60",
         "--start", "2025-06-02 09:15", "--record", str(tmp / "sent.journal"),
         "--data-dir", str(tmp / "fs")],
        tmp / "feed-server.log",
    )  # fmt: skip
    url = exchange.wait_for(r"(ws://127\.0\.0\.1:\d+/v3/feed/market-data-feed)").group(1)
    ingest = Proc(
        ["ingest", "--feed", "upstox", "--feed-url", url, "--symbols", *KEYS,
         "--data-dir", str(data), "--health-port", "0"],
        tmp / "ingest.log",
        env={"UPSTOX_ACCESS_TOKEN": TOKEN},
    )  # fmt: skip
    health = ingest.wait_for(r"(http://127\.0\.0\.1:\d+)/health").group(1)
    return Run(tmp, data, exchange, ingest, health)


def feed_clock(report: dict) -> datetime | None:  # type: ignore[type-arg]
    clock = report.get("feed_clock")
    return None if clock is None else datetime.fromisoformat(clock)


def wait_healthy_at(run: Run, until: datetime, timeout: float = 120) -> datetime:
    """Wait until the ingest is healthy with its feed clock at ``until``; return the clock."""
    report, _ = wait_report(
        run.health,
        lambda r: r["status"] == "ok" and (c := feed_clock(r)) is not None and c >= until,
        timeout,
        f"healthy at {until:%H:%M}",
    )
    clock = feed_clock(report)
    assert clock is not None
    return clock


def finish(run: Run) -> dict:  # type: ignore[type-arg]
    """Stop the exchange (so every frame it sent is in), then the ingest; return the last report."""
    assert run.exchange.stop() == 0
    poll(lambda: not get_json(f"{run.health}/health")["feed_connected"], 20, what="disconnect")
    report = get_json(f"{run.health}/health")
    assert run.ingest.stop() == 0, "".join(run.ingest.lines[-30:])
    return report


def abort(run: Run) -> None:
    """Stop both processes after a failure, without hiding it."""
    for proc in (run.exchange, run.ingest):
        with contextlib.suppress(AssertionError):
            proc.stop(timeout=10)


def check_nothing_lost(run: Run) -> int:
    """The journal holds every frame sent, in order; the bars are those of the ticks sent."""
    sent = [r.payload for r in read_journal(run.tmp / "sent.journal")]
    assert [r.payload for r in read_journal(run.journal)] == sent
    ticks = sent_ticks(sent)
    # Up to the minute before the last trade's, every bar is closed; the rest may be forming.
    last = max(t.ts for t in ticks).replace(second=0, microsecond=0) - timedelta(minutes=1)
    with MarketReader(StorePaths(run.data).market) as reader:
        stored = sorted(reader.bars_1m(), key=lambda b: (b.symbol, b.ts))
    expected = [b for b in bars_from_ticks(ticks) if b.ts < last]
    got = [b for b in stored if b.ts < last]
    assert len(expected) > 10
    assert got == expected  # minute for minute, every field, every one closed
    forming: list[Bar] = [replace(b, closed=True) for b in stored if b.ts >= last]
    assert forming == [b for b in bars_from_ticks(ticks) if b.ts >= last]
    return len(ticks)


def read_only_cycle(run: Run, cycle: int, with_journal: bool) -> dict[str, object]:
    """Make the store (and the journal too, if asked) read-only for a while; check /health."""
    market = StorePaths(run.data).market
    paths = [market, market.with_name("market.db-wal")] + [run.journal] * with_journal
    before = get_json(f"{run.health}/health")
    started = time.monotonic()
    fault = ReadOnly(run.ingest.popen.pid, paths, run.tmp / f"strace{cycle}.log")
    try:
        expect = {"flush_failing", "journal_failing"} if with_journal else {"flush_failing"}
        report, _ = wait_report(
            run.health,
            lambda r: r["status"] == "degraded" and expect <= set(r["reasons"]),
            REPORT_WITHIN_S,
            "the read-only live buffer in /health",
        )
        took = time.monotonic() - started
        assert report["flush_failures"] > before["flush_failures"]
        named = [str(market)] + [str(run.journal)] * with_journal
        assert any(name in report["flush_error"] for name in named)  # it says which file
        size = run.journal.stat().st_size
        time.sleep(FAULT_S)
        during = get_json(f"{run.health}/health")
        assert during["feed_connected"]  # still receiving
        if with_journal:  # what the journal cannot take yet waits in memory
            assert str(run.journal) in during["journal_error"]
            assert during["frames_held"] > report["frames_held"] > 0
        else:  # everything received goes on into the journal
            assert "journal_error" not in during and during["frames_held"] == 0
            assert during["journal_bytes"] > report["journal_bytes"]
            assert run.journal.stat().st_size > size
            assert during["frames_total"] > report["frames_total"]
    finally:
        fault.end()
    after, back = wait_report(run.health, lambda r: r["status"] == "ok", 30, "recovery")
    assert "flush_error" not in after and after["flushes_total"] > during["flushes_total"]
    assert "journal_error" not in after and after["frames_held"] == 0
    return {
        "reported_s": round(took, 2),
        "recovered_s": round(back, 2),
        "flush_failures": during["flush_failures"] - before["flush_failures"],
        "journal_growth_bytes": during["journal_bytes"] - report["journal_bytes"],
        "frames_held": during["frames_held"],
    }


def test_live_buffer_read_only_mid_run_is_reported_and_loses_nothing(tmp_path: Path) -> None:
    if problem := strace_problem():
        pytest.skip(f"cannot make open files read-only: {problem}")
    run = start(tmp_path, tmp_path / "data")
    figures: dict[str, object] = {"fault_s": FAULT_S}
    try:
        wait_healthy_at(run, ist(2025, 6, 2, 9, 17))
        for cycle in range(CYCLES):
            figures[f"store_only_{cycle}"] = read_only_cycle(run, 2 * cycle, False)
            figures[f"with_journal_{cycle}"] = read_only_cycle(run, 2 * cycle + 1, True)
        wait_healthy_at(run, wait_healthy_at(run, DAY_START) + timedelta(minutes=3))
    except BaseException:
        abort(run)
        raise
    last = finish(run)
    figures["ticks_sent_and_stored"] = check_nothing_lost(run)
    figures["flush_failures_total"] = last["flush_failures"]
    record(run.tmp, "disk_read_only", figures)


def test_disk_full_mid_run_is_reported_and_loses_nothing(tmp_path: Path) -> None:
    if problem := mount_problem():
        pytest.skip(f"cannot fill a disk here: {problem}")
    data = tmp_path / "data"
    figures: dict[str, object] = {"cycles": CYCLES, "fault_s": FAULT_S, "tmpfs": TMPFS_SIZE}
    with tmpfs(StorePaths(data).market.parent, TMPFS_SIZE) as live_buffer:
        run = start(tmp_path, data)
        try:
            wait_healthy_at(run, ist(2025, 6, 2, 9, 17))
            for cycle in range(CYCLES):
                before = get_json(f"{run.health}/health")
                started = time.monotonic()
                filler = fill(live_buffer)
                try:
                    report, _ = wait_report(
                        run.health,
                        lambda r: (
                            r["status"] == "degraded"
                            and {"journal_failing", "flush_failing"} <= set(r["reasons"])
                        ),
                        REPORT_WITHIN_S,
                        "the full disk in /health",
                    )
                    took = time.monotonic() - started
                    assert report["flush_failures"] > before["flush_failures"]
                    assert str(live_buffer) in report["flush_error"]
                    assert str(live_buffer) in report["journal_error"]
                    time.sleep(FAULT_S)
                    during = get_json(f"{run.health}/health")
                    # Still receiving: what the journal cannot take yet waits in memory.
                    assert during["feed_connected"]
                    assert during["frames_held"] > report["frames_held"] > 0
                finally:
                    filler.unlink()
                after, back = wait_report(
                    run.health, lambda r: r["status"] == "ok", 30, "recovery after a full disk"
                )
                assert after["frames_held"] == 0 and "journal_error" not in after
                assert "flush_error" not in after
                figures[f"reported_s_{cycle}"] = round(took, 2)
                figures[f"recovered_s_{cycle}"] = round(back, 2)
                figures[f"frames_held_max_{cycle}"] = during["frames_held"]
                figures[f"flush_failures_{cycle}"] = (
                    during["flush_failures"] - before["flush_failures"]
                )
            wait_healthy_at(run, wait_healthy_at(run, DAY_START) + timedelta(minutes=3))
        except BaseException:
            abort(run)
            raise
        last = finish(run)
        figures["ticks_sent_and_stored"] = check_nothing_lost(run)
        figures["flush_failures_total"] = last["flush_failures"]
    record(run.tmp, "disk_full", figures)
