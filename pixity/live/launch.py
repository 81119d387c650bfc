"""``pixity live``: run ``notebooks/live_session.ipynb`` through papermill as a child process.

Stopping is designed around papermill: a signal sent to papermill ends it without running
the notebook's last cells (SIGINT) or without saving at all (SIGTERM). So the child runs in its
own process session (the terminal's Ctrl-C does not reach it), and on Ctrl-C or SIGTERM this
process creates the session's stop file instead; the loop sees it within one poll, stops
cleanly, the final cells write the report, papermill saves it and exits. Every wait is bounded:
past ``stop_timeout_s`` the child is terminated and that is reported as a failure.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import FrameType

from pixity.errors import ConfigError, StoreMissingError
from pixity.stores.market import MarketReader
from pixity.stores.paths import StorePaths

log = logging.getLogger(__name__)

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "live_session.ipynb"


@dataclass(frozen=True, slots=True, kw_only=True)
class LaunchPlan:
    """Where a session's notebook, report, log and stop file go."""

    notebook: Path
    output: Path
    log_file: Path
    stop_file: Path
    parameters: dict[str, object]


def check_parameters(notebook: Path, parameters: Mapping[str, object]) -> None:
    """Refuse parameters the notebook's ``parameters`` cell does not declare."""
    import papermill

    declared = set(papermill.inspect_notebook(str(notebook)))
    if not declared:
        raise ConfigError(f"{notebook} has no cell tagged 'parameters'")
    unknown = sorted(set(parameters) - declared)
    if unknown:
        raise ConfigError(
            f"{notebook.name} does not declare parameter(s) {', '.join(unknown)}; "
            f"it declares {', '.join(sorted(declared))}"
        )


# How long ``pixity live`` waits for the ingest's first commit, which names the session day
# (the session itself would wait as long for the live buffer: LiveEngine.wait_for_feed_s).
WAIT_FOR_INGEST_S = 600.0


def session_day(
    data_dir: Path,
    *,
    wait_s: float = WAIT_FOR_INGEST_S,
    poll_s: float = 0.5,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> date:
    """Return the day the session will trade: the ingest's, once it has committed.

    The run's folder is named by it, and the scanner reads the session's limits there; a
    replay or a demo trades a past day, so the machine's date is not a stand-in. Waits (bounded
    by ``wait_s``, saying so once) for an ingest that has not committed yet.
    """
    market = StorePaths(data_dir).market
    deadline = monotonic() + wait_s
    told = False
    while True:
        try:
            with MarketReader(market) as reader:
                state = reader.ingest_state()
        except StoreMissingError:
            state = None
        if state is not None:
            return state.session_date
        if monotonic() >= deadline:
            raise StoreMissingError(
                f"no live buffer with data at {market} after {wait_s:.0f} s: start "
                "`pixity ingest` first (with the same --data-dir)"
            )
        if not told:
            print(f"waiting for the ingest's first commit to {market} ...", flush=True)
            told = True
        sleep(poll_s)


def plan(
    parameters: dict[str, object], *, data_dir: Path, run_id: str, notebook: Path = NOTEBOOK
) -> LaunchPlan:
    """Return the launch plan of one session run."""
    folder = StorePaths(data_dir).runs / session_day(data_dir).isoformat()
    log_file = folder / "live_session.log"
    stop_file = folder / f".stop-{run_id}"
    full = {
        **parameters,
        "run_id": run_id,
        "data_dir": str(data_dir),
        "stop_file": str(stop_file),
        "supervisor_pid": os.getpid(),
        "log_file": str(log_file),
    }
    check_parameters(notebook, full)
    return LaunchPlan(
        notebook=notebook,
        output=folder / f"live_session-{run_id}.ipynb",
        log_file=log_file,
        stop_file=stop_file,
        parameters=full,
    )


def run(launch: LaunchPlan, *, stop_timeout_s: float = 120.0) -> int:
    """Run the plan; return 0 when the session ended cleanly and its report was saved."""
    launch.output.parent.mkdir(parents=True, exist_ok=True)
    launch.stop_file.unlink(missing_ok=True)
    cmd = [
        sys.executable, "-m", "papermill", str(launch.notebook), str(launch.output),
        "--log-output", "--no-progress-bar", "--cwd", str(Path.cwd()),
        "-y", json.dumps(launch.parameters),
    ]  # fmt: skip
    child = subprocess.Popen(cmd, start_new_session=True)
    print(
        f"live session running (papermill pid {child.pid}); Ctrl-C stops it cleanly\n"
        f"report: {launch.output}\nlog:    {launch.log_file}",
        flush=True,
    )
    requested: list[int] = []

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if not requested:
            log.warning(
                "stopping the session cleanly (signal %d); its report will be saved", signum
            )
        requested.append(signum)
        launch.stop_file.touch()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _wait(child, launch, requested, stop_timeout_s)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        launch.stop_file.unlink(missing_ok=True)


def _wait(
    child: subprocess.Popen[bytes], launch: LaunchPlan, requested: list[int], stop_timeout_s: float
) -> int:
    deadline: float | None = None
    while True:
        try:
            code = child.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            pass
        if requested and deadline is None:
            deadline = time.monotonic() + stop_timeout_s
        if deadline is not None and time.monotonic() > deadline:
            log.error("session did not stop within %.0f s: terminating it", stop_timeout_s)
            os.killpg(child.pid, signal.SIGTERM)
            child.wait(timeout=30)
            return 1
    if code == 0:
        print(f"session report: {launch.output}\nsession log:    {launch.log_file}", flush=True)
        return 0
    print(
        f"pixity: error: the live session failed (papermill exit {code}); "
        f"see {launch.log_file} and {launch.output}",
        file=sys.stderr,
    )
    return 1
