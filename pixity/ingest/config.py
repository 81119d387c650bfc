"""Ingest settings: typed, frozen, checked once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pixity.domain import check_symbol
from pixity.errors import ConfigError
from pixity.stores.paths import StorePaths


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestConfig:
    """Everything the ingest loop needs to know besides the feed itself."""

    data_dir: Path
    symbols: tuple[str, ...]
    feed_name: str = "upstox"
    flush_interval_s: float = 0.25
    max_batch_ticks: int = 20_000  # hand over early when this many ticks wait
    max_backlog: int = 4  # batches queued at the flusher before the loop holds on to its own
    buffer_cap_ticks: int = 1_000_000  # past this, ticks live only in the journal
    busy_timeout_s: float = 5.0
    grace: timedelta = timedelta(seconds=2)
    rollover_delay: timedelta = timedelta(minutes=5)
    status_interval_s: float = 1.0
    stale_tick_s: float = 60.0
    final_flush_timeout_s: float = 10.0
    catch_up_records: int = 2_000  # journal records replayed per step before yielding
    max_held_bytes: int = 256 * 1024 * 1024  # frames kept in memory while the journal fails

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ConfigError("ingest needs at least one symbol")
        for symbol in self.symbols:
            check_symbol(symbol)
        for name in ("flush_interval_s", "busy_timeout_s", "final_flush_timeout_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0")
        for name in (
            "max_batch_ticks", "max_backlog", "buffer_cap_ticks", "catch_up_records",
            "max_held_bytes",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")

    @property
    def paths(self) -> StorePaths:
        """Return the data directory's layout."""
        return StorePaths(self.data_dir)

    @property
    def journal_dir(self) -> Path:
        """Return the folder of the daily journals (inside the live buffer)."""
        return self.paths.market.parent / "journal"
