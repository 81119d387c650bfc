"""Disk faults for real processes: a small tmpfs to fill, and EROFS injected into open files.

Why not ``chmod``: the tests run as root, which ignores permission bits; and even for an
unprivileged ingest, permissions are checked when a file is opened, while the ingest keeps
market.db, its WAL and the journal open for the whole run: a read-only directory changes
nothing for it. A read-only bind mount is the same (files opened before keep writing), and
a read-only remount of the filesystem is refused (EBUSY) while a file is open for writing.
What a filesystem that turns read-only under a running process does to it is that every
write to its open files fails with EROFS; ``strace -e inject`` does exactly that, to the
files named, for as long as it stays attached.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from procs import Proc, get_json, poll  # the e2e tests' process runner, shared

__all__ = ["Proc", "get_json", "poll"]

KEYS = ("NSE_EQ|INE155A01022", "NSE_EQ|INE118H01025")
TOKEN = "disk-test-token-7c1f"


def mount_problem() -> str | None:
    """Return why a tmpfs cannot be mounted here, or None when it can."""
    if os.geteuid() != 0:
        return "mounting a size-limited tmpfs needs root"
    probe = Path(f"/tmp/pixity-mount-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if done.returncode != 0:
            return f"mount -t tmpfs failed: {done.stderr.strip()}"
        subprocess.run(["umount", str(probe)], check=True, timeout=10)
        return None
    finally:
        probe.rmdir()


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` on ``path`` for the block."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, timeout=30)


def fill(folder: Path) -> Path:
    """Write a file into ``folder`` until its filesystem is full; return the file."""
    filler = folder / "filler"
    chunk = b"\0" * (1 << 20)
    with filler.open("wb", buffering=0) as out:
        while True:
            try:
                out.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk = chunk[: len(chunk) // 2]
                if len(chunk) < 512:
                    return filler


def strace_problem() -> str | None:
    """Return why EROFS cannot be injected here, or None when it can."""
    if shutil.which("strace") is None:
        return "strace is not installed (Debian package strace)"
    done = subprocess.run(
        ["strace", "-qq", "-o", "/dev/null", "-e", "trace=write", "-e", "inject=write:error=EROFS",
         "true"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if done.returncode != 0:
        return f"strace cannot trace here: {done.stderr.strip()[:200]}"
    return None


class ReadOnly:
    """Make every write to ``paths`` by process ``pid`` (all its threads) fail with EROFS."""

    SYSCALLS = "write,pwrite64,writev,pwritev,pwritev2,fsync,fdatasync,ftruncate,fallocate"

    def __init__(self, pid: int, paths: Sequence[Path], log: Path) -> None:
        args = ["strace", "-f", "-qq", "-o", "/dev/null", "-p", str(pid),
                "-e", f"trace={self.SYSCALLS}", "-e", f"inject={self.SYSCALLS}:error=EROFS"]  # fmt: skip
        for path in paths:
            args += ["-P", str(path.resolve())]
        self._log = log.open("w")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        time.sleep(0.5)  # attaching to each thread takes a moment
        if self.proc.poll() is not None:
            raise AssertionError(f"strace exited at once: {log.read_text()}")

    def end(self) -> None:
        """Detach: writes work again."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def wait_report(url: str, predicate, timeout: float, what: str) -> tuple[dict, float]:  # type: ignore[no-untyped-def, type-arg]
    """Poll ``/health`` until ``predicate(report)``; return the report and the seconds it took."""
    started = time.monotonic()
    report = poll(
        lambda: (r := get_json(f"{url}/health")) and predicate(r) and r,
        timeout=timeout,
        interval=0.1,
        what=what,
    )
    return report, time.monotonic() - started
