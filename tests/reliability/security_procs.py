"""pixity commands as real processes for the security tests, stdout and stderr kept apart.

Each process writes its stdout and stderr to its own file under the test's tmp dir, so the
test can search every byte it printed. ``listeners`` reports each listening socket of a
process and of all its descendants (papermill, Jupyter kernels), read with psutil.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

LOOPBACK = {"127.0.0.1", "::1"}


@dataclass(frozen=True, slots=True)
class Listener:
    """One bound socket that accepts connections (TCP LISTEN) or datagrams (unconnected UDP)."""

    command: str  # which pixity command's process tree it belongs to
    pid: int
    process: str
    ip: str
    port: int


class Spawned:
    """``python -m pixity ARGS`` with stdout and stderr in ``OUT/NAME.stdout|.stderr``."""

    def __init__(self, name: str, args: Sequence[str], out: Path, env: dict[str, str]) -> None:
        self.name = name
        self.stdout_path = out / f"{name}.stdout"
        self.stderr_path = out / f"{name}.stderr"
        self._out = self.stdout_path.open("wb")
        self._err = self.stderr_path.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "pixity", *args], stdout=self._out, stderr=self._err, env=env
        )

    def stdout(self) -> str:
        """Return what the process has printed on stdout so far."""
        return self.stdout_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """Return the first match of ``pattern`` in stdout; fail after ``timeout`` s."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = regex.search(self.stdout())
            if match:
                return match
            if self.popen.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(
            f"{self.name}: no {pattern!r} within {timeout} s (exit {self.popen.poll()}):\n"
            f"{self.stdout()[-3000:]}\n{self.stderr_path.read_text(errors='replace')[-3000:]}"
        )

    def wait(self, timeout: float) -> int:
        """Wait (bounded) for the process to exit by itself; return its exit code."""
        return self.popen.wait(timeout)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM the process and wait (bounded) for its exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            self.popen.wait(timeout)
        return self.popen.returncode

    def kill_tree(self) -> None:
        """Kill the process and every descendant it left, by pid (teardown after a failure)."""
        try:
            tree = [*psutil.Process(self.popen.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        if self.popen.poll() is None:
            self.popen.kill()
        for child in tree:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        self.popen.wait(10)
        self._out.close()
        self._err.close()


def listeners(procs: Iterable[Spawned]) -> set[Listener]:
    """Return the listening sockets of each running process and of its descendants."""
    found: set[Listener] = set()
    for proc in procs:
        try:
            root = psutil.Process(proc.popen.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for member in tree:
            try:
                name = member.name()
                conns = member.net_connections(kind="inet")
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            for conn in conns:
                tcp_listen = conn.status == psutil.CONN_LISTEN
                udp_bound = conn.type == 2 and conn.laddr and not conn.raddr  # SOCK_DGRAM
                if tcp_listen or udp_bound:
                    found.add(Listener(proc.name, member.pid, name, conn.laddr.ip, conn.laddr.port))
    return found


class ListenerWatch:
    """Sample ``listeners`` of some processes every ``every_s`` s in a thread, collecting all."""

    def __init__(self, every_s: float = 0.3) -> None:
        self.seen: set[Listener] = set()
        self._procs: list[Spawned] = []
        self._every_s = every_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="listener-watch", daemon=True)

    def watch(self, proc: Spawned) -> Spawned:
        """Add ``proc`` to the sampled processes and return it."""
        self._procs.append(proc)
        return proc

    def start(self) -> None:
        """Start sampling."""
        self._thread.start()

    def sample(self) -> set[Listener]:
        """Sample once now and return everything seen so far."""
        found = listeners(list(self._procs))
        with self._lock:
            self.seen |= found
            return set(self.seen)

    def stop(self) -> set[Listener]:
        """Stop sampling (bounded) and return everything seen."""
        self._stop.set()
        self._thread.join(5)
        return self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self._every_s):
            self.sample()
