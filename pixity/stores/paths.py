"""Where each store lives under a data directory (DESIGN.md, "Stores")."""

from __future__ import annotations

import os
from pathlib import Path


class StorePaths:
    """The data-directory layout: one property per store or folder.

    Build it with ``StorePaths("data")``; nothing is created until a writer opens its store.
    """

    __slots__ = ("data_dir",)

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir)

    def __repr__(self) -> str:
        return f"StorePaths({str(self.data_dir)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StorePaths) and other.data_dir == self.data_dir

    def __hash__(self) -> int:
        return hash(self.data_dir)

    @property
    def market(self) -> Path:
        """Return the live buffer: ticks, 1m bars, feed status, gaps (written by ingest)."""
        return self.data_dir / "live_buffer" / "market.db"

    @property
    def signals(self) -> Path:
        """Return the signals store (written by the live session)."""
        return self.data_dir / "signals" / "signals.db"

    @property
    def config(self) -> Path:
        """Return the runner-state store (written by the live session)."""
        return self.data_dir / "config" / "config.db"

    @property
    def paper(self) -> Path:
        """Return the paper-trading store (written by the live session)."""
        return self.data_dir / "paper" / "paper.db"

    @property
    def history(self) -> Path:
        """Return the history lake's root (Parquet by dataset and date)."""
        return self.data_dir / "history"

    @property
    def runs(self) -> Path:
        """Return the folder of executed session notebooks and logs."""
        return self.data_dir / "runs"

    @property
    def models(self) -> Path:
        """Return the folder of meta-model artifacts."""
        return self.data_dir / "models"
