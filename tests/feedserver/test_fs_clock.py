"""The simulated clock: speed times wall time, standing still while nobody is subscribed."""

from __future__ import annotations

import asyncio
import time

import pytest
from fs_support import SYMS, at, client, frames, running, sub

from pixity.errors import InvalidValueError
from pixity.feeds.upstox_wire import Method, build_request
from pixity.feedserver.clock import SimClock, market_status


def test_sim_clock_runs_at_speed_only_while_running() -> None:
    clock = SimClock(1_000, speed=60, wall=0.0)
    assert clock.now_ms(100.0) == 1_000  # nobody subscribed: still
    clock.set_running(True, 100.0)
    assert clock.now_ms(101.0) == 61_000
    clock.set_running(False, 102.0)
    assert clock.now_ms(500.0) == 121_000
    clock.set_running(True, 500.0)
    clock.rebase(100_000, 501.0)  # held back to what was sent
    assert clock.now_ms(501.0) == 100_000
    with pytest.raises(InvalidValueError):
        SimClock(0, speed=0, wall=0.0)


def test_market_status_follows_the_session() -> None:
    assert market_status(at(9, 5)) == "PRE_OPEN_START"
    assert market_status(at(9, 15)) == "NORMAL_OPEN"
    assert market_status(at(15, 30)) == "NORMAL_CLOSE"


def test_clock_stands_still_without_subscribers_and_runs_at_speed_with_one() -> None:
    async def go() -> None:
        async with running(speed=100) as server:
            ws = await client(server)
            await asyncio.sleep(0.5)  # connected, not subscribed
            assert server.sim_now_ms == at(9, 20)
            await sub(ws, [SYMS[0]])
            first = (await frames(ws, lambda g: len(g) >= 1))[0]
            assert first.current_ts_ms == at(9, 20)
            began = time.monotonic()
            await asyncio.sleep(1.0)
            sim = server.sim_now_ms - at(9, 20)
            wall = time.monotonic() - began
            assert 0.8 * 100 * wall * 1000 < sim <= 100 * wall * 1000 + 3000
            got = await frames(ws, lambda g: len(g) > 30)
            assert got[-1].current_ts_ms > at(9, 20)
            await ws.send(build_request(Method.UNSUB, [SYMS[0]]))
            await asyncio.sleep(0.1)
            held = server.sim_now_ms
            await asyncio.sleep(0.5)
            assert server.sim_now_ms == held
            await ws.close()

    asyncio.run(go())
