"""The ingest as users run it: health over HTTP, flush cadence, SIGTERM, kill -9 and restart."""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from ingest_support import (
    SYM,
    SYM2,
    SYM3,
    T0,
    Harness,
    config,
    frame,
    quote,
    session_frames,
    write_journal,
)
from prometheus_client.parser import text_string_to_metric_families

from pixity.ingest.app import run_ingest
from pixity.ingest.http import HealthServer
from pixity.ingest.replay_feed import ReplayFeed
from pixity.stores.market import MarketReader
from pixity.stores.paths import StorePaths

SYMBOLS = [SYM, SYM2, SYM3]
HEALTH_KEYS = {
    "status",
    "reasons",
    "feed_connected",
    "last_tick_age_s",
    "ticks_per_s",
    "ticks_total",
    "ticks_rejected",
    "flush_failures",
    "last_flush_ms",
    "last_flush_at",
    "buffer_depth",
    "buffer_full",
    "journal_bytes",
    "wal_bytes",
    "reconnects",
    "watchdog",
    "session_date",
    "feed_clock",
}


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read())


def test_health_and_metrics_over_http(tmp_path: Path) -> None:
    h = Harness(config(tmp_path))
    h.pipeline.on_connected(T0)
    h.feed(list(session_frames(minutes=0.5)))
    h.feed([frame(T0, [quote(SYM, T0, -3.0)])])
    h.flush()
    server = HealthServer(h.health, port=0)
    server.start()
    try:
        report = json.loads(get(server.url + "/health"))
        metrics = get(server.url + "/metrics").decode()
    finally:
        server.stop()
        h.stop()
    assert HEALTH_KEYS <= report.keys()
    assert report["status"] == "ok", report
    assert report["ticks_rejected"]["bad_price"] == 1  # depth repeats land in "duplicate"
    assert report["session_date"] == "2025-06-02" and report["feed_connected"] is True
    assert report["last_tick_age_s"] is not None and report["ticks_per_s"] >= 0
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    assert families["pixity_ingest_ticks"].samples[0].value == report["ticks_total"]
    rejected = families["pixity_ingest_ticks_rejected"].samples
    by_reason = {s.labels["reason"]: s.value for s in rejected}
    assert by_reason == {k: float(v) for k, v in report["ticks_rejected"].items()}
    for name in (
        "pixity_ingest_flush_failures",
        "pixity_ingest_buffer_depth",
        "pixity_ingest_last_flush_seconds",
        "pixity_ingest_flush_seconds",
        "pixity_ingest_feed_connected",
        "pixity_ingest_reconnects",
    ):
        assert name in families
    flushes = {s.name: s.value for s in families["pixity_ingest_flush_seconds"].samples}
    assert flushes["pixity_ingest_flush_seconds_count"] == report["flushes_total"] > 0


def test_the_running_ingest_keeps_the_collector_off_its_start_up_objects(tmp_path: Path) -> None:
    """While the feed runs, what the ingest started with is frozen (``gc.freeze``): the
    collector's full passes walk only what was made since. Afterwards it is not."""
    source = tmp_path / "source.journal"
    write_journal(source, session_frames(minutes=1))
    frozen: list[int] = []

    class Recording(ReplayFeed):
        async def run(self, stop: asyncio.Event) -> None:
            frozen.append(gc.get_freeze_count())
            await super().run(stop)

    assert gc.get_freeze_count() == 0
    factory = lambda events, _p: Recording(source, events)  # noqa: E731
    code = asyncio.run(
        run_ingest(config(tmp_path), factory, stop=asyncio.Event(), port=0, announce=print)
    )
    assert code == 0
    assert frozen and frozen[0] > 1000  # the modules, the store, the pipeline, ...
    assert gc.get_freeze_count() == 0
    with MarketReader(StorePaths(tmp_path / "data").market) as r:
        assert r.count_ticks() > 0  # and it ran as ever


@pytest.mark.serial  # a bound on the time between commits
def test_flush_cadence_under_load(tmp_path: Path) -> None:
    source = tmp_path / "source.journal"
    write_journal(source, session_frames(minutes=6, trade_p=0.9))  # ~3000 ticks/s at 120x
    cfg = config(tmp_path)
    stop = asyncio.Event()
    lines: list[str] = []

    def run() -> None:
        factory = lambda events, _p: ReplayFeed(source, events, speed=120)  # noqa: E731
        asyncio.run(run_ingest(cfg, factory, stop=stop, port=0, announce=lines.append))

    thread = threading.Thread(target=run)
    thread.start()
    market = StorePaths(tmp_path / "data").market
    while not market.exists() or not lines:
        time.sleep(0.01)
    commits: list[float] = []
    with MarketReader(market) as r:
        version = r.data_version()
        while thread.is_alive():
            now = r.data_version()
            if now != version:
                commits.append(time.monotonic())
                version = now
            time.sleep(0.005)
    thread.join()
    intervals = [b - a for a, b in itertools.pairwise(commits)][:-1]  # the last is shutdown
    gaps = sorted(intervals)
    assert len(gaps) > 8
    p95 = gaps[int(len(gaps) * 0.95) - 1]
    assert p95 < 0.4, gaps


def _spawn(tmp_path: Path, data: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "pixity",
        "ingest",
        "--feed",
        "replay",
        "--data-dir",
        str(data),
        "--health-port",
        "0",
        "--symbols",
        *SYMBOLS,
        *extra,
    ]
    env = {k: v for k, v in os.environ.items() if k != "UPSTOX_ACCESS_TOKEN"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _health_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("ingest health on http://127.0.0.1:"), line
    return line.split(" on ", 1)[1].strip()


def _bars(data: Path) -> list[object]:
    with MarketReader(StorePaths(data).market) as r:
        return list(r.bars_1m())


@pytest.mark.slow
def test_restart_after_kill_9_gives_the_same_bars(tmp_path: Path) -> None:
    source = tmp_path / "source.journal"
    write_journal(source, session_frames(minutes=12, seed=11))
    replay = ("--replay", str(source), "--replay-speed", "400")
    straight = _spawn(tmp_path, tmp_path / "a", "--replay", str(source))
    assert straight.wait(timeout=60) == 0, straight.stderr.read() if straight.stderr else ""

    crashed = _spawn(tmp_path, tmp_path / "b", *replay)
    _health_url(crashed)
    time.sleep(0.9)  # part-way through (the whole replay takes ~1.8 s)
    crashed.send_signal(signal.SIGKILL)
    crashed.wait(timeout=10)
    with MarketReader(StorePaths(tmp_path / "b").market) as r:
        partial = r.count_ticks()
    restarted = _spawn(tmp_path, tmp_path / "b", *replay)
    assert restarted.wait(timeout=60) == 0, restarted.stderr.read() if restarted.stderr else ""
    with MarketReader(StorePaths(tmp_path / "a").market) as r:
        total = r.count_ticks()
    assert 0 < partial < total  # killed part-way
    assert _bars(tmp_path / "b") == _bars(tmp_path / "a")


@pytest.mark.slow
def test_sigterm_flushes_and_exits_zero(tmp_path: Path) -> None:
    source = tmp_path / "source.journal"
    write_journal(source, session_frames(minutes=30, seed=2))
    proc = _spawn(tmp_path, tmp_path / "d", "--replay", str(source), "--replay-speed", "200")
    url = _health_url(proc)
    time.sleep(0.6)
    report = json.loads(get(url))
    assert report["ticks_total"] > 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0, proc.stderr.read() if proc.stderr else ""
    with MarketReader(StorePaths(tmp_path / "d").market) as r:
        state = r.ingest_state()
        journal = StorePaths(tmp_path / "d").market.parent / "journal" / "2025-06-02.journal"
        assert state is not None and state.journal_offset == journal.stat().st_size
        assert r.feed_statuses()[0].status.state.value == "STOPPED"


def test_missing_token_is_a_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "UPSTOX_ACCESS_TOKEN"}
    cmd = [sys.executable, "-m", "pixity", "ingest", "--symbols", SYM, "--data-dir", str(tmp_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2
    assert "UPSTOX_ACCESS_TOKEN" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_token_never_reaches_output_health_or_metrics(tmp_path: Path) -> None:
    token = "tok-SECRET-7f3a9c"
    env = {**os.environ, "UPSTOX_ACCESS_TOKEN": token}
    cmd = [
        sys.executable,
        "-m",
        "pixity",
        "ingest",
        "--feed",
        "upstox",
        "--feed-url",
        "ws://127.0.0.1:9/nothing-listens",
        "--data-dir",
        str(tmp_path / "t"),
        "--health-port",
        "0",
        "--symbols",
        SYM,
        "--log-level",
        "DEBUG",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    url = _health_url(proc)
    time.sleep(1.5)  # a few failed connection attempts
    report = get(url).decode()
    metrics = get(url.replace("/health", "/metrics")).decode()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert json.loads(report)["feed_connected"] is False
    for text in (report, metrics, out, err):
        assert token not in text
