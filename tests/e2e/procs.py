"""Run pixity's own commands as real processes in tests: start, wait for ready, stop."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Proc:
    """A running ``python -m pixity ...`` with its output collected in the background."""

    def __init__(self, args: Sequence[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.args = list(args)
        self.log = log
        self.lines: list[str] = []
        full_env = {**os.environ, **(env or {})}
        self._file = log.open("w")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "pixity", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
        )
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line)
            self._file.write(line)
            self._file.flush()

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """Return the first output line matching ``pattern``; fail after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        seen = 0
        while time.monotonic() < deadline:
            lines = self.lines[:]
            for line in lines[seen:]:
                match = regex.search(line)
                if match:
                    return match
            seen = len(lines)
            if self.popen.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(
            f"{self.args[0]}: no line matching {pattern!r} within {timeout} s; "
            f"exit={self.popen.poll()}; output:\n{''.join(self.lines[-40:])}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``sig`` and wait (bounded) for the exit code; kill if it does not exit."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
                raise AssertionError(
                    f"{self.args[0]} did not exit within {timeout} s of {sig}"
                ) from None
        self._reader.join(5)
        self._file.close()
        return self.popen.returncode

    def kill9(self) -> None:
        """Kill the process the way a crash does."""
        self.popen.kill()
        self.popen.wait(10)
        self._reader.join(5)


@contextmanager
def running(args: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Iterator[Proc]:
    """Run a pixity command for the ``with`` block; make sure it is gone afterwards."""
    proc = Proc(args, log, env)
    try:
        yield proc
    finally:
        if proc.popen.poll() is None:
            proc.popen.kill()
            proc.popen.wait(10)


def get_json(url: str, timeout: float = 5.0) -> Any:
    """GET ``url`` and parse its JSON body (any HTTP status)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def get_text(url: str, timeout: float = 5.0) -> str:
    """GET ``url`` and return its body as text."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


def poll(predicate: Any, timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    """Call ``predicate`` until it returns a truthy value; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout} s (last: {last!r})")
