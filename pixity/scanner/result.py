"""What every scanner call returns: frames and values, with what went wrong and what to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewResult:
    """Frames and values for the dashboard, and why some of them may be empty.

    ``errors`` maps a store (``market``, ``signals``, ``config``, ``paper``, or
    ``calendar``) to the message saying why it could not be read; its frames and values are
    then empty or None. ``notes`` are plain sentences for the trader, e.g. what to start
    first. Neither is ever a traceback.
    """

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> pd.DataFrame:
        """Return the frame called ``name``."""
        return self.frames[name]

    @property
    def ok(self) -> bool:
        """Tell whether every store that exists could be read."""
        return not self.errors


@dataclass(slots=True)
class Problems:
    """Collects errors and notes while a result is being built (one per refresh)."""

    errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        """Add ``text`` to the notes, once."""
        if text not in self.notes:
            self.notes.append(text)

    def result(
        self,
        frames: dict[str, pd.DataFrame] | None = None,
        values: dict[str, Any] | None = None,
    ) -> ViewResult:
        """Return a result with ``frames`` and ``values`` and what was collected."""
        return ViewResult(
            frames=frames or {},
            values=values or {},
            errors=dict(self.errors),
            notes=tuple(self.notes),
        )
