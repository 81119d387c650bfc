"""Each fault flag produces what it says, and counts it."""

from __future__ import annotations

import asyncio
import itertools
import math
import time

import pytest
from fs_support import SYMS, client, running, sub
from websockets.exceptions import ConnectionClosedError

from pixity.feeds.upstox_wire import MalformedFrameError, Mode, decode_frame
from pixity.feedserver.faults import UNKNOWN_KEY, FaultConfig


async def _raw(n: int, **faults: float) -> tuple[list[bytes], dict[str, int]]:
    async with running(speed=300, faults=FaultConfig(seed=3, **faults)) as server:
        ws = await client(server)
        await sub(ws, [SYMS[0], SYMS[1]], Mode.LTPC)
        got = [await asyncio.wait_for(ws.recv(), 5) for _ in range(n)]
        await ws.close()
        return got, dict(server.counts)  # type: ignore[misc]


def _decoded(raw: list[bytes]) -> list:
    out = []
    for data in raw:
        try:
            out.append(decode_frame(data))
        except MalformedFrameError:
            out.append(None)
    return out


def test_malformed_rate_sends_undecodable_frames() -> None:
    raw, counts = asyncio.run(_raw(300, malformed_rate=0.3))
    bad = sum(f is None for f in _decoded(raw))
    assert bad > 0 and counts["malformed_frames"] >= bad


def test_duplicate_rate_resends_frames_identically() -> None:
    raw, counts = asyncio.run(_raw(300, duplicate_rate=0.3))
    pairs = sum(1 for a, b in itertools.pairwise(raw) if a == b and len(a) > 40)
    assert pairs > 0 and counts["duplicate_frames"] >= pairs


def test_reorder_rate_sends_ticks_out_of_order() -> None:
    raw, counts = asyncio.run(_raw(400, reorder_rate=0.3))
    ticks = [f for f in _decoded(raw) if f is not None and f.quotes]
    stamps = [f.current_ts_ms for f in ticks]
    backwards = sum(1 for a, b in itertools.pairwise(stamps) if b < a)
    assert backwards > 0 and counts["reordered_frames"] > 0


def test_unknown_key_rate_adds_keys_nobody_subscribed() -> None:
    raw, counts = asyncio.run(_raw(300, unknown_key_rate=0.3))
    keys = [q.key for f in _decoded(raw) for q in f.quotes]
    # Counted when queued: the last ones may still be in flight when the client stops.
    assert 0 < keys.count(UNKNOWN_KEY) <= counts["unknown_keys"]
    assert set(keys) <= {SYMS[0], SYMS[1], UNKNOWN_KEY}


def test_bad_price_rate_sends_nan_negative_or_zero_prices() -> None:
    raw, counts = asyncio.run(_raw(300, bad_price_rate=0.3))
    prices = [q.ltp for f in _decoded(raw) for q in f.quotes]
    bad = [p for p in prices if math.isnan(p) or p <= 0]
    assert 0 < len(bad) <= counts["bad_prices"]


def test_drop_every_aborts_connections_without_a_close_frame() -> None:
    async def go() -> dict[str, int]:
        async with running(speed=60, faults=FaultConfig(drop_every_s=0.5)) as server:
            ws = await client(server)
            await sub(ws, [SYMS[0]])
            began = time.monotonic()
            with pytest.raises(ConnectionClosedError) as closed:
                async with asyncio.timeout(5):
                    while True:
                        await ws.recv()
            assert closed.value.rcvd is None  # no close frame: the TCP link just went
            assert time.monotonic() - began < 2
            return dict(server.counts)

    assert asyncio.run(go())["drops"] >= 1


def test_stall_sends_nothing_for_a_while_then_resumes_later_in_time() -> None:
    """A stall holds the link, not the market: the ticks due during it are never sent.

    Frames queued before the stall still go out first when it ends (as over a real link that
    stalled), so the time jump is looked for among the frames of the burst after the gap,
    not in the first one of them.
    """

    async def go() -> tuple[list[tuple[float, int]], int, dict[str, int]]:
        faults = FaultConfig(stall_every_s=1.0, stall_for_s=0.6)
        async with running(speed=60, faults=faults) as server:
            ws = await client(server)
            await sub(ws, [SYMS[0]])
            got: list[tuple[float, int]] = []  # (received, frame's exchange time ms)
            at = 0  # the first frame after the stall's gap, once it came
            async with asyncio.timeout(6):
                while not at or time.monotonic() - got[at][0] < 0.5:
                    frame = decode_frame(await ws.recv())
                    now = time.monotonic()
                    if not at and got and now - got[-1][0] > 0.4 and server.counts.get("stalls"):
                        at = len(got)
                    got.append((now, frame.current_ts_ms))
            await ws.close()
            return got, at, dict(server.counts)

    got, at, counts = asyncio.run(go())
    assert counts["stalls"] >= 1
    assert got[at][0] - got[at - 1][0] > 0.4  # nothing came for most of the stall
    stamps = [ts for received, ts in got[at - 1 :] if received - got[at][0] < 0.5]
    # The sim clock ran on during the stall (0.6 s at speed 60: 36 s of market time).
    assert max(b - a for a, b in itertools.pairwise(stamps)) > 0.4 * 60 * 1000
