"""What the live-session notebook calls: run a session, then read back what it did.

A session stops cleanly when its stop file appears (``pixity live`` creates it on Ctrl-C or
SIGTERM), when the process that launched it is gone, on a kernel interrupt, at ``until``, or at
the end of the trading session. Each way ends the loop, marks the runners STOPPED and lets the
notebook's last cells write the report.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from pixity.live.config import SessionConfig
from pixity.live.core import EngineCounts
from pixity.live.engine import LiveEngine
from pixity.live.stores import SessionLock, SessionStores
from pixity.processes import is_alive

log = logging.getLogger(__name__)

_HANDLERS: list[logging.Handler] = []  # what setup_logging added, so a re-run replaces them


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionResult:
    """What a finished session did, for the report cells."""

    config: SessionConfig
    session_date: date | None
    stop_reason: str
    counts: EngineCounts
    equity: pd.DataFrame
    runner_states: list[dict[str, object]]


class StopCheck:
    """Tell the loop to stop when the stop file exists or the supervisor process is gone."""

    def __init__(self, stop_file: str | None, supervisor_pid: int | None) -> None:
        self.stop_file = Path(stop_file) if stop_file else None
        self.supervisor_pid = supervisor_pid
        self.reason: str | None = None

    def __call__(self) -> bool:
        if self.stop_file is not None and self.stop_file.exists():
            self.reason = "stop requested"
            return True
        if self.supervisor_pid and not is_alive(self.supervisor_pid):
            self.reason = f"supervisor process {self.supervisor_pid} is gone"
            return True
        return False


def setup_logging(log_file: str | None, level: str = "INFO") -> None:
    """Send pixity's logs to ``log_file`` and to stderr (which papermill streams)."""
    root = logging.getLogger("pixity")
    while _HANDLERS:
        handler = _HANDLERS.pop()
        root.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in handlers:
        handler.setFormatter(formatter)
        _HANDLERS.append(handler)
        root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def run_session(
    params: Mapping[str, object],
    *,
    stop_file: str | None = None,
    supervisor_pid: int | None = None,
) -> SessionResult:
    """Run one live paper session with the notebook's ``params`` and return what it did."""
    config = SessionConfig.from_params(params)
    stop = StopCheck(stop_file, supervisor_pid)
    with SessionLock(config.data_dir):
        stores = SessionStores(config.data_dir)
        try:
            engine = LiveEngine(config, stores, stop=stop)
            engine.run()
        finally:
            stores.close()
    reason = stop.reason or engine.stop_reason or "finished"
    equity = pd.DataFrame(
        engine.counts.equity, columns=["ts", "realised", "unrealised", "costs"]
    ).assign(total=lambda f: f.realised + f.unrealised - f.costs)
    states: list[dict[str, object]] = [
        {
            "symbol": r.state.symbol,
            "strategy_id": r.state.strategy_id,
            "status": r.state.status.value,
            "current_bias": r.state.current_bias.value,
            "signal_state": r.state.signal_state.value,
            "last_bar_ts": r.state.last_bar_ts,
            "last_error": r.state.last_error,
        }
        for r in engine.runners
    ]
    return SessionResult(
        config=config,
        session_date=engine.session_date,
        stop_reason=reason,
        counts=engine.counts,
        equity=equity,
        runner_states=states,
    )
