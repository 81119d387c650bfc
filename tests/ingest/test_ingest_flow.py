"""Frames -> journal -> bars -> market.db: bars, flush failure, buffer cap, rollover, gaps."""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta
from pathlib import Path

from ingest_support import SYM, SYM2, T0, Harness, config, frame, quote, reader, session_frames

from pixity.bars import bars_from_ticks
from pixity.domain import Bar, Tick
from pixity.feeds.journal import read_journal
from pixity.ingest.pipeline import Mode
from pixity.markettime import ist
from pixity.stores import lake
from pixity.stores.paths import StorePaths


def stored(tmp_path: Path) -> tuple[list[Tick], list[Bar]]:
    with reader(tmp_path) as r:
        return r.ticks(), r.bars_1m()


def closed_bars(ticks: list[Tick]) -> list[Bar]:
    return bars_from_ticks(ticks)


def test_bars_in_store_equal_bars_from_accepted_ticks(tmp_path: Path) -> None:
    h = Harness(config(tmp_path))
    frames = list(session_frames(minutes=6))
    h.feed(frames)
    h.flush()
    assert h.stop()
    ticks, bars = stored(tmp_path)
    assert len(ticks) == h.health.ticks_total > 1000
    assert sorted(t.seq for t in ticks) == list(range(len(ticks)))
    expected = {(b.symbol, b.ts): b for b in bars_from_ticks(ticks)}
    got = {(b.symbol, b.ts): b for b in bars}
    assert got.keys() == expected.keys()
    for key, bar in got.items():  # the last minute is still forming; the rest are closed
        assert bar == expected[key] if bar.closed else bar == _forming(expected[key])
    assert sum(not b.closed for b in bars) == 3
    journal = list(read_journal(h.pipeline.day.journal_path if h.pipeline.day else Path()))
    assert len(journal) == len(frames)


def _forming(bar: Bar) -> Bar:
    from dataclasses import replace

    return replace(bar, closed=False)


def test_flush_failure_is_counted_degrades_health_and_recovers(tmp_path: Path) -> None:
    h = Harness(config(tmp_path))
    frames = list(session_frames(minutes=2, seed=3))
    h.feed(frames[:300])
    h.flush()
    blocker = sqlite3.connect(StorePaths(tmp_path / "data").market, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: every flush times out
    try:
        h.feed(frames[300:])
        h.pipeline.pump()
        h.pipeline.handoff(force=True)
        deadline = time.monotonic() + 5
        while h.health.flush_failures < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        report = h.health.snapshot()
        assert report["flush_failures"] >= 2
        assert report["status"] == "degraded" and "flush_failing" in report["reasons"]
        assert "locked" in report["flush_error"] or "gave up" in report["flush_error"]
        assert report["buffer_depth"] > 0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    h.flush()
    assert "flush_error" not in h.health.snapshot()
    assert h.stop()
    ticks, _ = stored(tmp_path)
    assert len(ticks) == h.health.ticks_total


def test_buffer_cap_raises_alarm_and_journal_replay_recovers_everything(tmp_path: Path) -> None:
    frames = list(session_frames(minutes=4, seed=5))
    ref = Harness(config(tmp_path / "ref"))
    ref.feed(frames)
    ref.flush()
    assert ref.stop()

    h = Harness(config(tmp_path, buffer_cap_ticks=200, max_batch_ticks=50))
    h.feed(frames[:200])
    h.flush()
    blocker = sqlite3.connect(StorePaths(tmp_path / "data").market, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        for raw in frames[200:]:
            h.feed([raw])
            h.pipeline.pump()
        report = h.health.snapshot()
        assert report["buffer_full"] is True and "buffer_full" in report["reasons"]
        assert h.pipeline.mode is Mode.JOURNAL_ONLY
        assert report["buffer_depth"] <= 200 + 50
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    h.catch_up()
    h.flush()
    assert h.health.snapshot()["buffer_full"] is False
    assert h.stop()
    assert stored(tmp_path) == stored(tmp_path / "ref")


def test_rollover_moves_the_day_to_the_lake(tmp_path: Path) -> None:
    h = Harness(config(tmp_path))
    late = ist(2025, 6, 2, 15, 27)
    frames = list(session_frames(start=late, minutes=2.5, seed=7))
    h.feed(frames)
    h.flush()
    ticks, bars = stored(tmp_path)
    assert ticks and bars
    after = ist(2025, 6, 2, 15, 36)
    h.feed([frame(after)])  # feed clock past 15:30 + 5 min
    h.flush()
    assert h.pipeline.day is None and h.pipeline.rolled_day == late.date()
    with reader(tmp_path) as r:
        assert r.count_ticks() == 0 and r.bars_1m() == []
        assert r.ingest_state().rolled_over  # type: ignore[union-attr]
    lake_bars = lake.read_bars(tmp_path / "data")
    assert len(lake_bars) == len(bars)
    assert len(lake.read_ticks(tmp_path / "data")) == len(ticks)
    # the next day starts a fresh journal and store rows
    next_day = ist(2025, 6, 3, 9, 15, 1)
    h.feed([frame(next_day, [quote(SYM, next_day, 101.0, 5, 50)])])
    h.flush()
    assert h.pipeline.day.day == next_day.date()
    assert h.health.snapshot()["last_rollover"] == "2025-06-02"
    assert h.stop()
    ticks, _ = stored(tmp_path)
    assert [t.seq for t in ticks] == [0]


def test_a_day_without_trades_rolls_over_and_the_writer_lives_on(tmp_path: Path) -> None:
    h = Harness(config(tmp_path))
    quiet = ist(2025, 6, 2, 15, 20)
    h.feed([frame(quiet + timedelta(seconds=s)) for s in range(0, 600, 30)])  # heartbeats only
    h.feed([frame(ist(2025, 6, 2, 15, 36))])
    h.flush()
    assert h.pipeline.rolled_day == quiet.date()
    report = h.health.snapshot()
    assert report["status"] != "down" and report.get("rollover_error") is None, report
    assert report["last_rollover"] == "2025-06-02"
    # The writer still works: the next day's trade is stored.
    next_day = ist(2025, 6, 3, 9, 15, 1)
    h.feed([frame(next_day, [quote(SYM, next_day, 101.0, 5, 50)])])
    h.flush()
    assert h.stop()
    ticks, _ = stored(tmp_path)
    assert len(ticks) == 1


def test_gap_recorded_on_disconnect_and_closed_on_reconnect(tmp_path: Path) -> None:
    h = Harness(config(tmp_path))
    h.pipeline.on_connected(T0)
    h.feed([frame(T0 + timedelta(seconds=10), [quote(SYM2, T0 + timedelta(seconds=9), 10.0)])])
    h.pipeline.on_disconnected(T0, "server went away")
    h.pipeline.on_connected(T0)
    h.feed([frame(T0 + timedelta(seconds=42))])
    h.flush()
    assert h.stop()
    with reader(tmp_path) as r:
        gaps = r.gaps()
        statuses = r.feed_statuses()
    assert [(g.gap.start, g.gap.end, g.gap.reason) for g in gaps] == [
        (T0 + timedelta(seconds=10), T0 + timedelta(seconds=42), "server went away")
    ]
    assert statuses[0].status.state.value == "STOPPED"
    assert statuses[0].status.reconnects == 1
