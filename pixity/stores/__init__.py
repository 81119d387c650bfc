"""Adapters that persist domain objects: the SQLite WAL live stores (and the history lake).

Each SQLite store has one writer class, used only by the process that owns the file, and one
read-only reader class for everyone else::

    paths = StorePaths("data")
    with SignalStore(paths.signals) as store:
        store.save_signal(signal)
    with SignalReader(paths.signals) as reader:
        latest = reader.recent(strategy_id="pixityAI_meta", limit=5)
"""

from pixity.stores.config import ConfigReader, ConfigStore, StoredRunnerState
from pixity.stores.market import (
    MarketReader,
    MarketStore,
    StoredFeedStatus,
    StoredGap,
)
from pixity.stores.paper import PaperReader, PaperStore
from pixity.stores.paths import StorePaths
from pixity.stores.signals import SignalReader, SignalStore, StoredSignal
from pixity.stores.sqlite import DEFAULT_BUSY_TIMEOUT_S

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_S",
    "ConfigReader",
    "ConfigStore",
    "MarketReader",
    "MarketStore",
    "PaperReader",
    "PaperStore",
    "SignalReader",
    "SignalStore",
    "StorePaths",
    "StoredFeedStatus",
    "StoredGap",
    "StoredRunnerState",
    "StoredSignal",
]
