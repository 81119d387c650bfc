"""The live session's stop check: its stop file, or its launcher gone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pixity.live.session import StopCheck
from pixity.processes import is_alive


def test_the_stop_file_stops_the_session(tmp_path: Path) -> None:
    stop = StopCheck(str(tmp_path / ".stop-run"), os.getpid())
    assert not stop() and stop.reason is None
    (tmp_path / ".stop-run").touch()
    assert stop() and stop.reason == "stop requested"


def test_a_launcher_that_is_gone_stops_the_session(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)  # reaped: its pid names no process now
    assert is_alive(os.getpid()) and not is_alive(child.pid)
    stop = StopCheck(str(tmp_path / ".stop-run"), child.pid)
    assert stop() and stop.reason == f"supervisor process {child.pid} is gone"
