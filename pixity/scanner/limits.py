"""The session's max daily loss, for the header: given, or read from the session's run.

No store holds the limit: it is a parameter of the live session, which papermill records in
the executed notebook's metadata (``metadata.papermill.parameters``) as soon as the run
starts. The newest run notebook of the day is read when it changes, and only then.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import date
from pathlib import Path

log = logging.getLogger(__name__)

RUN_GLOB = "live_session-*.ipynb"
# A run notebook with more output than this is not parsed on a dashboard refresh.
MAX_NOTEBOOK_BYTES = 20_000_000


class LossLimit:
    """Where the header's max daily loss comes from: ``given``, else the day's newest run."""

    def __init__(self, runs: Path, given: float | None = None) -> None:
        self.runs = runs
        self.given = given
        self._seen: tuple[Path, int, int] | None = None
        self._value: float | None = None

    def for_day(self, day: date) -> float | None:
        """Return the max daily loss of ``day``'s session, or None if it is not known."""
        if self.given is not None:
            return self.given
        try:
            runs = [(p.stat(), p) for p in (self.runs / day.isoformat()).glob(RUN_GLOB)]
        except OSError:  # no runs folder yet, or a run removed while listing
            return None
        if not runs:
            return None
        stat, path = max(runs, key=lambda run: run[0].st_mtime_ns)
        seen = (path, stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            self._seen, self._value = seen, _read_limit(path, stat.st_size)
        return self._value


def _read_limit(path: Path, size: int) -> float | None:
    if size > MAX_NOTEBOOK_BYTES:
        return None
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        value = notebook["metadata"]["papermill"]["parameters"]["max_daily_loss"]
    except (OSError, ValueError, KeyError, TypeError):
        # Being written by papermill, or not a run of the live session: the limit is unknown.
        log.debug("no max_daily_loss in %s", path, exc_info=True)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if value > 0 else None
