"""A stand-in for the ingest (a real MarketStore writer) and helpers for the engine tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

from pixity.domain import Bar
from pixity.live.config import SessionConfig
from pixity.markettime import to_epoch_ms
from pixity.sample import SampleMarket
from pixity.stores.lake import write_bars
from pixity.stores.market import IngestState, MarketStore
from pixity.stores.paths import StorePaths

KEYS = ("NSE_EQ|INE155A01022", "NSE_EQ|INE118H01025")
DAY = date(2025, 6, 3)
HISTORY = (date(2025, 5, 29), date(2025, 5, 30), date(2025, 6, 2))


class FakeIngest:
    """Write a day's 1m bars into market.db minute by minute, as the ingest commits them."""

    def __init__(self, data_dir: Path, bars: Sequence[Bar], day: date = DAY) -> None:
        self.store = MarketStore(StorePaths(data_dir).market)
        self.day = day
        self.bars = sorted(bars, key=lambda b: (b.ts, b.symbol))
        self.sent = 0

    def commit_until(self, clock: datetime, *, forming: bool = True) -> None:
        """Commit every bar that closed by ``clock`` (and, optionally, the forming ones)."""
        closed = [b for b in self.bars if b.ts + timedelta(minutes=1) <= clock]
        rows = list(closed)
        if forming:
            rows += [
                replace(b, closed=False)
                for b in self.bars
                if b.ts <= clock < b.ts + timedelta(minutes=1)
            ]
        self.store.write_batch([], rows, state=self.state(clock))

    def state(self, clock: datetime, rolled_over: bool = False) -> IngestState:
        return IngestState(
            session_date=self.day,
            journal_file=f"{self.day}.journal",
            journal_offset=0,
            next_seq=0,
            feed_clock_ms=to_epoch_ms(clock),
            rolled_over=rolled_over,
        )

    def close(self) -> None:
        self.store.close()


def sample_bars(day: date = DAY, keys: Iterable[str] = KEYS, seed: int = 7) -> list[Bar]:
    return SampleMarket(list(keys), seed=seed).bars_1m(day)


def seed_history(data_dir: Path, keys: Sequence[str] = KEYS) -> None:
    """Write a few days of 1m bars before ``DAY`` into the history lake (for warm-up)."""
    market = SampleMarket(list(keys), seed=7)
    write_bars(data_dir, market.bars_frame(HISTORY))


def config(data_dir: Path, **overrides: object) -> SessionConfig:
    values: dict[str, object] = {
        "symbols": KEYS,
        "strategies": ("ref_ema_cross",),
        "max_capital": 100_000.0,
        "max_daily_loss": 5_000.0,
        "run_id": "test",
        "data_dir": data_dir,
        "wait_for_feed_s": 0.0,
    }
    values.update(overrides)
    return SessionConfig.from_params(values)


class FakeTime:
    """A monotonic clock and a sleep that only advance when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
