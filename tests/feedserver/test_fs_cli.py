"""The command: flags checked, the listening line, SIGTERM, --exit-at-close, --record."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

from fs_support import SYMS
from websockets.asyncio.client import connect

from pixity.feeds.journal import read_journal
from pixity.feeds.upstox_wire import FrameKind, Method, Mode, build_request, decode_frame

RUNNER = Path(__file__).resolve().parents[2] / "runners" / "feed_server.py"


def _start(*flags: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(RUNNER), "--symbols", *SYMS[:2], "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("feed-server listening on ws://127.0.0.1:"), line
    return proc, line.split()[-1]


async def _subscribe_and_read(url: str, n: int) -> list:
    async with connect(url, additional_headers={"Authorization": "Bearer t"}, max_queue=None) as ws:
        await ws.send(build_request(Method.SUB, list(SYMS[:2]), Mode.FULL))
        return [decode_frame(await asyncio.wait_for(ws.recv(), 5)) for _ in range(n)]


def test_non_loopback_host_without_token_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, str(RUNNER), "--symbols", SYMS[0], "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--require-token" in result.stderr


def test_bad_flags_are_refused_with_exit_2() -> None:
    for flags in (["--speed", "0"], ["--start", "2025-06-01 09:15"], ["--malformed-rate", "2"]):
        result = subprocess.run(
            [sys.executable, str(RUNNER), "--symbols", SYMS[0], *flags],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (flags, result.stderr)


def test_sigterm_exits_0_and_the_record_holds_what_was_sent(tmp_path: Path) -> None:
    record, stats = tmp_path / "sent.journal", tmp_path / "stats.json"
    proc, url = _start(
        "--start",
        "2025-06-02 10:00",
        "--speed",
        "60",
        "--record",
        str(record),
        "--stats",
        str(stats),
    )
    try:
        got = asyncio.run(_subscribe_and_read(url, 40))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    recorded = [decode_frame(r.payload) for r in read_journal(record)]
    assert recorded[: len(got)] == got
    assert json.loads(stats.read_text())["frames_sent"] == len(recorded)


def test_exit_at_close_exits_0_after_the_close_notice() -> None:
    proc, url = _start("--start", "2025-06-02 15:29", "--speed", "120", "--exit-at-close")

    async def until_close() -> list:
        got = []
        async with connect(
            url, additional_headers={"Authorization": "Bearer t"}, max_queue=None
        ) as ws:
            await ws.send(build_request(Method.SUB, list(SYMS[:2]), Mode.LTPC))
            async for data in ws:
                got.append(decode_frame(data))
        return got

    try:
        got = asyncio.run(asyncio.wait_for(until_close(), 20))
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
    closes = [f for f in got if f.kind is FrameKind.MARKET_INFO]
    assert closes[-1].segment_status["NSE_EQ"] == "NORMAL_CLOSE"
