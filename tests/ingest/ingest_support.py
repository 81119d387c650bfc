"""Helpers for the ingest tests: wire frames, a seeded session generator, an in-process harness."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pixity.feeds.journal import JournalWriter
from pixity.feeds.upstox_wire import FrameKind, Mode, Quote, encode_frame
from pixity.ingest.app import Ingest
from pixity.ingest.config import IngestConfig
from pixity.ingest.pipeline import Mode as PipeMode
from pixity.markettime import ist, to_epoch_ms
from pixity.stores.market import MarketReader
from pixity.stores.paths import StorePaths

SYM = "NSE_EQ|INE155A01022"
SYM2 = "NSE_EQ|INE002A01018"
SYM3 = "NSE_EQ|INE467B01029"
OTHER = "NSE_EQ|INE009A01021"
T0 = ist(2025, 6, 2, 9, 15)  # a Monday, a trading day


def ms(when: datetime) -> int:
    """Return epoch ms of ``when``."""
    return to_epoch_ms(when)


def quote(
    key: str, ltt: datetime, ltp: float, ltq: int = 10, vtt: int | None = None, **kw: Any
) -> Quote:
    """Return a quote carrying one trade."""
    return Quote(key=key, ltp=ltp, ltt_ms=ms(ltt), ltq=ltq, close_price=100.0, vtt=vtt, **kw)


def frame(at: datetime, quotes: Iterable[Quote] = (), mode: Mode = Mode.FULL) -> bytes:
    """Return a live_feed frame stamped ``at``."""
    return encode_frame(FrameKind.LIVE_FEED, ms(at), list(quotes), mode)


def session_frames(
    symbols: tuple[str, ...] = (SYM, SYM2, SYM3),
    *,
    start: datetime = T0,
    minutes: float = 10,
    step_ms: int = 100,
    seed: int = 1,
    trade_p: float = 0.5,
) -> Iterator[bytes]:
    """Yield a seeded session of full-mode frames every ``step_ms`` of market time.

    Trades are stamped a little before the frame (sometimes out of order); some entries
    repeat the last trade (a depth update) and some frames carry no trade at all.
    """
    rng = random.Random(seed)
    price = dict.fromkeys(symbols, 100.0)
    vtt = dict.fromkeys(symbols, 0)
    last: dict[str, Quote] = {}
    steps = int(minutes * 60_000 / step_ms)
    for step in range(1, steps + 1):
        at = start + timedelta(milliseconds=step * step_ms)
        quotes = []
        for key in symbols:
            roll = rng.random()
            if roll < trade_p:
                price[key] = round(max(1.0, price[key] + rng.choice((-0.05, 0.0, 0.05))), 2)
                qty = rng.randint(1, 50)
                vtt[key] += qty + rng.choice((0, 0, 5))  # sometimes unseen trades in between
                lag = rng.randint(0, 150)
                ltt = max(start, at - timedelta(milliseconds=lag))
                last[key] = quote(key, ltt, price[key], qty, vtt[key])
                quotes.append(last[key])
            elif roll < trade_p + 0.2 and key in last:
                quotes.append(replace(last[key], depth=((10, price[key] - 0.05, 12, price[key]),)))
        yield frame(at, quotes)


def write_journal(path: Path, frames: Iterable[bytes]) -> int:
    """Write ``frames`` into a journal file; return how many."""
    count = 0
    with JournalWriter(path) as journal:
        for raw in frames:
            journal.append(raw, time.time_ns())
            count += 1
    return count


def config(tmp_path: Path, **kw: Any) -> IngestConfig:
    """Return a test config (short busy timeout) under ``tmp_path/data``."""
    kw.setdefault("symbols", (SYM, SYM2, SYM3))
    kw.setdefault("busy_timeout_s", 0.2)
    return IngestConfig(data_dir=tmp_path / "data", **kw)


class Harness:
    """An ``Ingest`` driven by hand: frames in through the callbacks, ``flush`` to commit."""

    def __init__(self, cfg: IngestConfig) -> None:
        self.config = cfg
        self.ingest = Ingest(cfg)
        self.ingest.start()
        self.catch_up()

    @property
    def pipeline(self) -> Any:
        return self.ingest.pipeline

    @property
    def health(self) -> Any:
        return self.ingest.health

    def catch_up(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.pipeline.mode is not PipeMode.LIVE:
            assert time.monotonic() < deadline, "catch-up did not finish"
            self.pipeline.pump()
            time.sleep(0.001)

    def feed(self, frames: Iterable[bytes]) -> None:
        for raw in frames:
            self.pipeline.on_frame(raw, time.time_ns())

    def flush(self, timeout: float = 10.0) -> None:
        self.pipeline.pump()
        self.pipeline.handoff(force=True)
        assert self.ingest.flusher.wait_idle(timeout), self.health.snapshot()

    def stop(self) -> bool:
        return self.ingest.stop()


def reader(tmp_path: Path) -> MarketReader:
    """Open the test data dir's market.db read-only."""
    return MarketReader(StorePaths(tmp_path / "data").market)
