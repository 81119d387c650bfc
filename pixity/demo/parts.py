"""The demo's parts as child processes: started in order, each waited for, stopped in order.

Each part runs ``python -m pixity <command>`` in its own process session, so a Ctrl-C in the
terminal reaches only the demo, which then stops the parts itself in the right order. Every
wait is bounded; a part that exits or does not become ready in time stops the demo with a
message that names it and points at its log.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pixity.errors import PixityError


class PartFailed(PixityError):
    """A part of the demo failed to start, or died."""


class Part:
    """One child process with its output teed to a log file and kept for matching."""

    def __init__(self, name: str, args: Sequence[str], log: Path) -> None:
        self.name = name
        self.log = log
        self.lines: list[str] = []
        log.parent.mkdir(parents=True, exist_ok=True)
        self._file = log.open("w", encoding="utf-8")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "pixity", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._pump, daemon=True, name=f"demo-{name}")
        self._reader.start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line)
            self._file.write(line)
            self._file.flush()

    @property
    def alive(self) -> bool:
        """Tell whether the process is still running."""
        return self.popen.poll() is None

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """Return the first output line matching ``pattern``; raise PartFailed past ``timeout``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if found := regex.search(line):
                    return found
            if not self.alive:
                raise self.failure("exited before it was ready")
            time.sleep(0.1)
        raise self.failure(f"was not ready within {timeout:.0f} s")

    def wait_until(self, check: Callable[[], bool], what: str, timeout: float) -> None:
        """Wait until ``check()`` holds; raise PartFailed if the part dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            if not self.alive:
                raise self.failure(f"exited before {what}")
            time.sleep(0.2)
        raise self.failure(f"did not reach '{what}' within {timeout:.0f} s")

    def failure(self, what: str) -> PartFailed:
        tail = "".join(self.lines[-8:]).rstrip()
        return PartFailed(f"{self.name} {what}; its log is {self.log}\n{tail}")

    def stop(self, timeout: float) -> int | None:
        """Send SIGTERM, wait up to ``timeout`` s, then SIGKILL; return the exit code."""
        if self.alive:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        self._reader.join(5)
        self._file.close()
        return self.popen.returncode
