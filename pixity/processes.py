"""Facts about other processes, from the OS."""

from __future__ import annotations

import psutil


def is_alive(pid: int) -> bool:
    """Tell whether process ``pid`` exists (one of another user's counts as alive).

    ``psutil`` rather than ``os.kill(pid, 0)``: on Windows that call terminates the process.
    """
    return bool(psutil.pid_exists(pid))
