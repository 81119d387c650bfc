"""The local exchange's send capacity: ticks/s a ``pixity feed-server`` sends, and its CPU share.

A ``pixity feed-server`` process serves the sample day (``--keys`` keys, seed 7, from 09:15,
whole day) to one bare client that only receives frames and counts their ``feeds`` entries
by walking the top-level protobuf fields (no decoding of the entries themselves), so the
client costs little and the server is what is measured:

1. capacity: ``--speed 20000`` asks for far more ticks than any server sends, so the rate
   reached is the server's capacity (it then runs at 100 % of a core);
2. paced (``--rate``, default 100,000 ticks/s): the server's CPU share at that rate.

Run: ``.venv/bin/python bench/feedserver.py [--keys N] [--mode M] [--duration S] [--rate R] [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from pixity.feeds.upstox_wire import Method, Mode, build_request
from pixity.markettime import ist, to_epoch_ms
from pixity.sample import SampleMarket

DAY = date(2025, 6, 2)
SEED = 7
START = "2025-06-02 09:15"
WS = re.compile(r"(ws://127\.0\.0\.1:\d+/v3/feed/market-data-feed)")
_FEEDS_TAG = 0x12  # FeedResponse.feeds: field 2, length-delimited


def keys(n: int) -> list[str]:
    return [f"NSE_EQ|INE{i:03d}A01010" for i in range(n)]


def count_entries(raw: bytes) -> int:
    """Return how many ``feeds`` entries a ``FeedResponse`` holds (top-level fields only)."""
    n, i, size = 0, 0, len(raw)
    while i < size:
        tag = raw[i]
        i += 1
        while tag & 0x80:  # a multi-byte tag (not in this schema's top level, but be safe)
            tag = raw[i]
            i += 1
        wire = tag & 7
        if wire == 0:
            while raw[i] & 0x80:
                i += 1
            i += 1
        elif wire == 2:
            length, shift = 0, 0
            while True:
                b = raw[i]
                i += 1
                length |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            i += length
            n += tag == _FEEDS_TAG
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"wire type {wire} in a FeedResponse")
    return n


class Counter:
    """Count a frame's entries: exactly (``count_entries``) for the first frames, then by
    the bytes every entry of these keys starts its key with (a C-speed ``bytes.count``)
    once the two counts agreed, so the client stays cheap next to the server."""

    def __init__(self, names: list[str]) -> None:
        lengths = {len(k) for k in names}
        prefix = names[0].split("|")[0] + "|"
        self.marker = (
            b"\x0a" + bytes([lengths.pop()]) + prefix.encode() if len(lengths) == 1 else b""
        )
        self.checked = 0

    def __call__(self, raw: bytes) -> int:
        if self.checked < 2000 or not self.marker:
            exact = count_entries(raw)
            if self.marker and raw.count(self.marker) != exact:
                raise RuntimeError("the key marker miscounts entries: count them exactly")
            self.checked += 1
            return exact
        return raw.count(self.marker)


async def receive(
    url: str, n: int, mode: str, warmup: float, duration: float, pid: int
) -> dict[str, Any]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    server = psutil.Process(pid)
    count = Counter(keys(n))
    headers = {"Authorization": "Bearer bench"}
    ticks = frames = nbytes = 0
    async with connect(url, additional_headers=headers, max_size=None, compression=None) as ws:
        await ws.send(build_request(Method.SUB, keys(n), Mode(mode)))
        start = end = math.inf  # the window opens ``warmup`` s after the first tick
        started, last = False, 0.0
        cpu0 = cpu1 = me0 = 0.0
        try:
            async for raw in ws:
                now = time.monotonic()
                if start == math.inf and count(raw):
                    start = now + warmup
                    end, last = start + duration, start
                if not started and now >= start:
                    started, start = True, now
                    t = server.cpu_times()
                    cpu0 = t.user + t.system
                    me0 = time.process_time()
                if started:
                    got = count(raw)  # type: ignore[arg-type]
                    ticks, frames, nbytes = ticks + got, frames + 1, nbytes + len(raw)
                    if got:
                        last = now
                    if now >= end or now - last > 1.0:
                        break
        except ConnectionClosed:
            pass
        t = server.cpu_times()
        cpu1 = t.user + t.system
    secs = min(end, last) - start
    return {
        "ticks": ticks,
        "frames": frames,
        "bytes": nbytes,
        "secs": secs,
        "rate": ticks / secs,
        "server_cpu": (cpu1 - cpu0) / secs,
        "client_cpu": (time.process_time() - me0) / secs,
    }


def pace_speed(n: int, rate: float, seconds: float) -> float:
    """Return the --speed at which the sample tape delivers ``rate`` ticks/s from 09:15."""
    ms = np.fromiter(
        (to_epoch_ms(t.ts) for t in SampleMarket(keys(n), seed=SEED).ticks(DAY)), dtype=np.int64
    )
    lo = int(np.searchsorted(ms, to_epoch_ms(ist(DAY.year, DAY.month, DAY.day, 9, 15))))
    hi = min(len(ms) - 1, lo + int(rate * seconds))
    return min(100_000.0, (int(ms[hi]) - int(ms[lo])) / 1000 / seconds)


def phase(a: argparse.Namespace, tmp: Path, speed: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "pixity", "feed-server", "--symbols", *keys(a.keys),
           "--port", "0", "--seed", str(SEED), "--speed", f"{speed:g}", "--start", START,
           "--exit-at-close", "--data-dir", str(tmp / "fs")]  # fmt: skip
    lines: list[str] = []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        deadline, url = time.monotonic() + 180, None
        while url is None and time.monotonic() < deadline:
            for line in lines[:]:
                if m := WS.search(line):
                    url = m.group(1)
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        if url is None:
            raise RuntimeError("feed-server did not start:\n" + "".join(lines[-20:]))
        result = asyncio.run(receive(url, a.keys, a.mode, a.warmup, a.duration, proc.pid))
    finally:
        proc.terminate()
        proc.wait(15)
        reader.join(5)
    result["log"] = [line.rstrip() for line in lines if "pre-encoded" in line or "sample" in line]
    return result


def show(name: str, r: dict[str, Any]) -> None:
    print(
        f"{name:34}{r['rate']:10,.0f} ticks/s  server CPU {100 * r['server_cpu']:4.0f}% of a core"
        f"  (client {100 * r['client_cpu']:.0f}%; {r['ticks']:,} ticks, {r['frames']:,} frames,"
        f" {r['bytes'] / r['secs'] / 1e6:.1f} MB/s over {r['secs']:.1f} s)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keys", type=int, default=200)
    p.add_argument("--mode", choices=["full", "ltpc"], default="full")
    p.add_argument("--duration", type=float, default=15.0)
    p.add_argument("--warmup", type=float, default=1.0, help="s after the first tick")
    p.add_argument("--rate", type=float, default=100_000.0, help="paced ticks/s (0: skip)")
    p.add_argument("--quick", action="store_true", help="20 keys, 2 s, no paced phase")
    a = p.parse_args()
    if a.quick:
        a.keys, a.duration, a.warmup, a.rate = 20, 2.0, 0.5, 0.0
    print(f"{a.keys} keys, mode {a.mode}, {a.warmup:g} s warm-up + {a.duration:g} s per phase")
    with tempfile.TemporaryDirectory(prefix="pixity-fsbench-") as name:
        tmp = Path(name)
        cap = phase(a, tmp, 20_000)
        for line in cap["log"]:
            print("  server:", line)
        show("capacity (--speed 20000)", cap)
        if a.rate:
            speed = pace_speed(a.keys, a.rate, a.warmup + a.duration + 2)
            paced = phase(a, tmp, speed)
            show(f"paced for {a.rate:,.0f}/s (--speed {speed:.0f})", paced)
    # The exchange must send faster than the ingest benchmark's goal, or that benchmark
    # measures the exchange.
    print(f"ratio capacity / the ingest goal's 100,000 ticks/s: {cap['rate'] / 100_000:.2f}")
    print(json.dumps({"capacity": cap["rate"], "capacity_cpu": cap["server_cpu"]}))


if __name__ == "__main__":
    main()
