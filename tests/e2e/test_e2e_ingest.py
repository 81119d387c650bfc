"""The local exchange and the ingest as real processes, over the real Upstox V3 wire protocol.

Each test starts `pixity feed-server` and `pixity ingest` as subprocesses (no mocks of the
socket), lets them run at speed, and checks what landed in market.db against what the server
sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from procs import Proc, get_json, get_text, poll
from prometheus_client.parser import text_string_to_metric_families
from sent import trades_of

from pixity.bars import bars_from_ticks
from pixity.domain import Bar, Tick
from pixity.feeds.journal import read_journal
from pixity.feeds.upstox_wire import Frame, MalformedFrameError, decode_frame
from pixity.markettime import ist
from pixity.sample import SampleMarket
from pixity.stores.market import MarketReader
from pixity.stores.paths import StorePaths

pytestmark = pytest.mark.slow

KEYS = ["NSE_EQ|INE155A01022", "NSE_EQ|INE118H01025"]
DAY_START = ist(2025, 6, 2, 9, 15)
HERE = Path(__file__).parent


@dataclass
class Exchange:
    proc: Proc
    url: str


def start_exchange(tmp: Path, *extra: str, name: str = "fs") -> Exchange:
    args = [
        "feed-server", "--symbols", *KEYS, "--port", "0", "--seed", "7",
        "--data-dir", str(tmp / name), "--stats", str(tmp / f"{name}-stats.json"), *extra,
    ]  # fmt: skip
    proc = Proc(args, tmp / f"{name}.log")
    match = proc.wait_for(r"(ws://127\.0\.0\.1:\d+/v3/feed/market-data-feed)", timeout=60)
    return Exchange(proc, match.group(1))


def start_ingest(tmp: Path, url: str, data: Path, name: str = "ingest") -> tuple[Proc, str]:
    args = [
        "ingest", "--feed", "upstox", "--feed-url", url, "--symbols", *KEYS,
        "--data-dir", str(data), "--health-port", "0",
    ]  # fmt: skip
    proc = Proc(args, tmp / f"{name}.log", env={"UPSTOX_ACCESS_TOKEN": "e2e-test-token"})
    match = proc.wait_for(r"(http://127\.0\.0\.1:\d+)/health", timeout=60)
    return proc, match.group(1)


def feed_clock(health_url: str) -> datetime | None:
    clock = get_json(f"{health_url}/health").get("feed_clock")
    return None if clock is None else datetime.fromisoformat(clock)


def wait_feed_clock(health_url: str, until: datetime, timeout: float) -> None:
    poll(
        lambda: (c := feed_clock(health_url)) is not None and c >= until,
        timeout=timeout,
        what=f"feed clock {until:%H:%M}",
    )


def sent_ticks(journal: Path) -> list[Tick]:
    """Return the trades the server sent in live_feed frames (its malformed ones skipped)."""

    def frames() -> Iterator[Frame]:
        for record in read_journal(journal):
            try:
                yield decode_frame(record.payload)
            except MalformedFrameError:
                continue

    return trades_of(frames())


def stored_closed_bars(data: Path) -> list[Bar]:
    with MarketReader(StorePaths(data).market) as reader:
        return sorted(reader.bars_1m(closed_only=True), key=lambda b: (b.symbol, b.ts))


def stored_ticks(data: Path) -> list[Tick]:
    with MarketReader(StorePaths(data).market) as reader:
        return reader.ticks()


def assert_bars_match_stored_ticks(data: Path) -> None:
    """Check every stored closed bar against the bar rebuilt from the stored ticks."""
    closed = stored_closed_bars(data)
    rebuilt = {(b.symbol, b.ts): b for b in bars_from_ticks(stored_ticks(data))}
    assert closed
    assert [b for b in closed if rebuilt.get((b.symbol, b.ts)) != b] == []


@pytest.fixture
def readers(tmp_path: Path) -> Iterator[list[Path]]:
    """Start 4 reader processes on the default data dir's market.db and a sqlite3 loop."""
    db = StorePaths(tmp_path / "data").market
    stop = tmp_path / "readers.stop"
    outs = [tmp_path / f"reader{i}.json" for i in range(4)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "reader_worker.py"), str(db), str(stop), str(o)]
        )
        for o in outs
    ]
    shell = subprocess.Popen(
        ["bash", "-c",
         f'fails=0; n=0; while [ ! -e "{stop}" ]; do if [ -e "{db}" ]; then n=$((n+1)); '
         f'sqlite3 -readonly "{db}" "SELECT COUNT(*) FROM bars_1m; SELECT MAX(bar_ts) FROM bars_1m;"'
         f' >/dev/null 2>>"{tmp_path}/sqlite3.err" || fails=$((fails+1)); fi; sleep 0.1; done;'
         f' echo "$n $fails" > "{tmp_path}/sqlite3.json"'],
    )  # fmt: skip
    yield outs
    stop.touch()
    for p in [*procs, shell]:
        p.wait(30)


def test_an_hour_at_speed_60_stores_the_bars_the_server_sent(
    tmp_path: Path, readers: list[Path]
) -> None:
    data = tmp_path / "data"
    exchange = start_exchange(
        tmp_path,
        "--speed",
        "60",
        "--start",
        "2025-06-02 09:15",
        "--record",
        str(tmp_path / "sent.journal"),
    )
    ingest, health = start_ingest(tmp_path, exchange.url, data)
    try:
        wait_feed_clock(health, ist(2025, 6, 2, 10, 16), timeout=150)
        report = get_json(f"{health}/health")
        assert report["status"] == "ok", report
        assert report["flush_failures"] == 0
    finally:
        assert exchange.proc.stop() == 0
        assert ingest.stop() == 0
    sent = [t for t in sent_ticks(tmp_path / "sent.journal") if t.ts < ist(2025, 6, 2, 10, 15)]
    expected = bars_from_ticks(sent)
    stored = [b for b in stored_closed_bars(data) if b.ts < ist(2025, 6, 2, 10, 15)]
    assert len(expected) > 100
    assert stored == expected  # minute for minute, every field
    # And what the server sent is the seeded sample market itself.
    market = [
        t
        for t in SampleMarket(KEYS, seed=7).ticks(DAY_START.date())
        if t.ts < ist(2025, 6, 2, 10, 15)
    ]
    assert bars_from_ticks(market) == expected
    # 4 reader processes and the sqlite3 shell read all along, without a single error.
    stopped = tmp_path / "readers.stop"
    stopped.touch()
    poll(lambda: all(o.exists() for o in readers), timeout=30, what="readers' reports")
    for out in readers:
        result = json.loads(out.read_text())
        assert result["error_count"] == 0, result
        assert result["reads"] > 100
    poll(lambda: (tmp_path / "sqlite3.json").exists(), timeout=30, what="sqlite3 loop report")
    n, fails = map(int, (tmp_path / "sqlite3.json").read_text().split())
    assert n > 50 and fails == 0, (tmp_path / "sqlite3.err").read_text()


def test_bad_frames_are_counted_by_reason_and_good_ticks_make_the_bars(tmp_path: Path) -> None:
    data = tmp_path / "data"
    faults = [
        "--malformed-rate", "0.05", "--duplicate-rate", "0.05", "--reorder-rate", "0.05",
        "--unknown-key-rate", "0.02", "--bad-price-rate", "0.02", "--fault-seed", "11",
    ]  # fmt: skip
    exchange = start_exchange(tmp_path, "--speed", "60", "--start", "2025-06-02 09:15", *faults)
    ingest, health = start_ingest(tmp_path, exchange.url, data)
    try:
        wait_feed_clock(health, ist(2025, 6, 2, 9, 40), timeout=90)
    finally:
        # Stop the exchange first: then every frame it sent has reached the ingest.
        assert exchange.proc.stop() == 0
    stats = json.loads((tmp_path / "fs-stats.json").read_text())
    poll(lambda: not get_json(f"{health}/health")["feed_connected"], timeout=20, what="disconnect")
    report = get_json(f"{health}/health")
    metrics = get_text(f"{health}/metrics")
    assert ingest.stop() == 0
    rejected = report["ticks_rejected"]
    assert rejected["malformed_frame"] == stats["malformed_frames"] > 0
    # Faults combine: a duplicated frame with a bad price or an unknown key counts twice, and
    # a frame garbled after its price was spoiled counts once, as malformed.
    dup, garbled = stats["duplicate_frames"], stats["malformed_frames"]
    assert stats["bad_prices"] - garbled <= rejected["bad_price"] <= stats["bad_prices"] + dup
    assert (
        stats["unknown_keys"] - garbled
        <= rejected["unsubscribed_key"]
        <= stats["unknown_keys"] + dup
    )
    assert stats["bad_prices"] > 0 and stats["unknown_keys"] > 0
    # A duplicated frame's copy repeats its trades: refused as duplicates (or as late, when a
    # reordered frame that closed their bar came between the two). Each of the two copies is
    # garbled at the malformed rate (5 %), which loses about a tenth of them; frames of more
    # than one trade give more than one (one run gave 123 for 127 duplicated frames).
    assert rejected["duplicate"] + rejected.get("late", 0) >= 0.8 * stats["duplicate_frames"] > 0
    assert rejected["duplicate"] > 0
    assert stats["reordered_frames"] > 0
    by_reason = {
        s.labels["reason"]: s.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "pixity_ingest_ticks_rejected"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert by_reason == {k: float(v) for k, v in rejected.items()}
    # Every stored tick is a real trade of the sample market, and the bars are built from them.
    real = {(t.symbol, t.ts, t.price) for t in SampleMarket(KEYS, seed=7).ticks(DAY_START.date())}
    ticks = stored_ticks(data)
    assert ticks and all((t.symbol, t.ts, t.price) in real for t in ticks)
    assert_bars_match_stored_ticks(data)
