"""The Upstox V3 feed adapter against real local sockets (a websockets server, an HTTP server)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import pytest
from upstox_fakes import (
    KEYS,
    TOKEN,
    BlackHole,
    FakeAuthorize,
    FakeFeed,
    Plan,
    Recorder,
    eventually,
    run_async,
    running,
)

from pixity.clock import WallClock
from pixity.domain import FeedState
from pixity.errors import ConfigError, DataIntegrityError, StoreBusyError
from pixity.feeds.secret import Secret
from pixity.feeds.upstox import (
    SUBSCRIBE_CHUNK,
    UpstoxFeed,
    UpstoxFeedConfig,
    Watchdog,
    backoff_delay,
)
from pixity.feeds.upstox_auth import PRODUCTION_AUTHORIZE_URL, EndpointKind, FeedEndpoint
from pixity.feeds.upstox_wire import Method, Mode, decode_frame


def make_feed(
    url: str,
    events: Recorder,
    *,
    market_open: bool = True,
    rng: random.Random | None = None,
    **overrides: Any,
) -> UpstoxFeed:
    settings: dict[str, Any] = {
        "keys": KEYS,
        "token": Secret(TOKEN),
        "feed_url": url,
        "open_timeout_s": 2.0,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
        "silence_s": 30.0,
        "ping_interval_s": 5.0,
        "ping_timeout_s": 5.0,
        "close_timeout_s": 0.5,
    }
    settings.update(overrides)
    return UpstoxFeed(
        UpstoxFeedConfig(**settings),
        events,
        clock=WallClock(),
        market_open=lambda: market_open,
        rng=rng or random.Random(7),
    )


class MaxRng(random.Random):
    """Always draws the top of the range, so a backoff wait is as long as allowed."""

    def uniform(self, a: float, b: float) -> float:
        return b


# ---------------------------------------------------------------- connect and subscribe


def test_direct_connect_sends_bearer_and_one_binary_sub_with_every_key() -> None:
    async def scenario() -> None:
        events = Recorder()
        async with FakeFeed(lambda n: Plan(frames=5)) as server:
            feed = make_feed(server.url, events, mode=Mode.LTPC)
            async with running(feed):
                await eventually(lambda: len(events.frames) == 5)
                status = feed.status()
        conn = server.conns[0]
        assert conn.authorization == f"Bearer {TOKEN}"
        assert conn.binary == [True]
        (request,) = conn.requests
        assert request.method is Method.SUB
        assert request.mode is Mode.LTPC
        assert request.keys == KEYS
        assert [decode_frame(raw).current_ts_ms for raw, _ in events.frames] == [0, 1, 2, 3, 4]
        assert all(abs(ns - time.time_ns()) < 60e9 for _, ns in events.frames)
        assert len(events.connected) == 1
        assert status.state is FeedState.CONNECTED and status.connected
        assert status.frames == 5 and status.last_message_at is not None
        assert status.watchdog is Watchdog.OK
        assert feed.status().state is FeedState.STOPPED
        assert events.order == ["connected", "disconnected"]
        assert events.disconnected[0][1] == "stopped"

    run_async(scenario)


def test_many_keys_are_subscribed_in_bounded_chunks() -> None:
    keys = tuple(f"NSE_EQ|INE{i:06d}" for i in range(2 * SUBSCRIBE_CHUNK + 5))

    async def scenario() -> None:
        events = Recorder()
        async with FakeFeed(lambda n: Plan(frames=1)) as server:
            feed = make_feed(server.url, events, keys=keys)
            async with running(feed):
                await eventually(lambda: len(events.frames) == 1)
                await eventually(lambda: len(server.conns[0].requests) == 3)
        conn = server.conns[0]
        assert [len(r.keys) for r in conn.requests] == [SUBSCRIBE_CHUNK, SUBSCRIBE_CHUNK, 5]
        assert tuple(conn.keys) == keys

    run_async(scenario)


def test_authorize_flow_connects_to_the_returned_uri_without_a_header() -> None:
    async def scenario() -> None:
        events = Recorder()
        async with FakeFeed(lambda n: Plan(frames=2)) as server:
            with FakeAuthorize(server.url) as auth:
                feed = make_feed(auth.url, events)
                async with running(feed):
                    await eventually(lambda: len(events.frames) == 2)
        (call,) = auth.calls
        assert call["Authorization"] == f"Bearer {TOKEN}"
        assert call["Accept"] == "application/json"
        conn = server.conns[0]
        assert conn.authorization is None
        assert conn.path.endswith("?requestId=r-1&code=CODE-1-x9")
        assert conn.keys == list(KEYS)

    run_async(scenario)


def test_feed_url_picks_the_endpoint_and_production_is_the_default() -> None:
    assert FeedEndpoint.from_feed_url(None) == FeedEndpoint(
        EndpointKind.AUTHORIZE, PRODUCTION_AUTHORIZE_URL
    )
    assert FeedEndpoint.from_feed_url("wss://x.example/f").kind is EndpointKind.DIRECT
    assert FeedEndpoint.from_feed_url("http://127.0.0.1:9/a").kind is EndpointKind.AUTHORIZE


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"feed_url": "ftp://x/y"}, "feed_url"),
        ({"keys": ()}, "keys"),
        ({"keys": "NSE_EQ|INE155A01022"}, "tuple"),
        ({"keys": ("NSE_EQ|INE155A01022",) * 2}, "repeat"),
        ({"keys": ("RELIANCE",)}, "instrument key"),
        ({"silence_s": 0}, "silence_s"),
        ({"backoff_initial_s": 5.0, "backoff_max_s": 1.0}, "backoff"),
    ],
)
def test_config_rejects_bad_settings(change: dict[str, Any], match: str) -> None:
    settings: dict[str, Any] = {"keys": KEYS, "token": Secret(TOKEN), **change}
    with pytest.raises(ConfigError, match=match):
        UpstoxFeedConfig(**settings)


# ---------------------------------------------------------------- reconnects


def test_abrupt_drop_reconnects_and_resubscribes_every_key() -> None:
    async def scenario() -> None:
        events = Recorder()
        plans = {0: Plan(frames=3, then="abort")}
        async with FakeFeed(lambda n: plans.get(n, Plan(frames=2))) as server:
            feed = make_feed(server.url, events)
            async with running(feed):
                await eventually(lambda: len(events.frames) == 5)
                status = feed.status()
        assert len(server.conns) == 2
        assert server.conns[1].keys == list(KEYS)
        assert events.order[:3] == ["connected", "disconnected", "connected"]
        assert "without a close frame" in events.disconnected[0][1]
        assert status.reconnects == 1 and status.connected
        assert status.last_error == events.disconnected[0][1]

    run_async(scenario)


def test_backoff_is_full_jitter_exponential_and_bounded() -> None:
    rng = random.Random(42)
    ceilings = [min(8.0, 0.5 * 2**a) for a in range(8)]
    draws = [
        [backoff_delay(a, initial_s=0.5, max_s=8.0, rng=rng) for _ in range(200)] for a in range(8)
    ]
    for ceiling, sample in zip(ceilings, draws, strict=True):
        assert all(0.0 <= d <= ceiling for d in sample)
        assert max(sample) > 0.8 * ceiling  # the range grows with the attempt...
        assert len(set(sample)) == len(sample)  # ...and every draw is jittered
    assert backoff_delay(10_000, initial_s=0.5, max_s=8.0, rng=MaxRng()) == 8.0
    same = [backoff_delay(3, initial_s=0.5, max_s=8.0, rng=random.Random(1)) for _ in range(2)]
    assert same[0] == same[1]


def test_failed_connects_back_off_longer_and_count_failures() -> None:
    async def scenario() -> None:
        events = Recorder()
        async with FakeFeed(reject_status=503) as server:
            feed = make_feed(server.url, events, rng=MaxRng(), backoff_initial_s=0.02)
            started = time.monotonic()
            async with running(feed):
                # the server counts a handshake before the feed has read its refusal
                await eventually(lambda: feed.status().connect_failures >= 4)
            elapsed = time.monotonic() - started
            status = feed.status()
            assert server.handshakes >= 4
        # waits of 0.04, 0.08, 0.16 (attempts 1..3, MaxRng): at least 0.28 s in all
        assert elapsed >= 0.28
        assert status.reconnects >= 3
        assert status.last_error is not None and "HTTP 503" in status.last_error
        assert events.connected == [] and events.disconnected == []

    run_async(scenario)


def test_stop_interrupts_a_backoff_wait_at_once() -> None:
    async def scenario() -> None:
        events = Recorder()
        async with FakeFeed(reject_status=503) as server:
            feed = make_feed(
                server.url, events, rng=MaxRng(), backoff_initial_s=30.0, backoff_max_s=30.0
            )
            async with running(feed) as (stop, task):
                await eventually(lambda: feed.status().state is FeedState.DISCONNECTED)
                await asyncio.sleep(0.05)
                started = time.monotonic()
                stop.set()
                await asyncio.wait_for(task, 2)
                assert time.monotonic() - started < 0.5
        assert feed.status().state is FeedState.STOPPED

    run_async(scenario)


def test_handshake_that_never_completes_times_out_and_is_retried() -> None:
    async def scenario() -> None:
        events = Recorder()
        async with BlackHole() as hole:
            feed = make_feed(hole.url, events, open_timeout_s=0.2)
            async with running(feed):
                await eventually(lambda: hole.accepted >= 2, timeout_s=3)
                status = feed.status()
        assert status.last_error is not None and "timed out" in status.last_error
        assert status.connect_failures >= 1

    run_async(scenario)


def test_run_returns_promptly_after_stop_while_connected_or_connecting() -> None:
    async def scenario() -> None:
        async with FakeFeed(lambda n: Plan(frames=1)) as server:
            events = Recorder()
            feed = make_feed(server.url, events)
            async with running(feed) as (stop, task):
                await eventually(lambda: len(events.frames) == 1)
                started = time.monotonic()
                stop.set()
                await asyncio.wait_for(task, 2)
                assert time.monotonic() - started < 2.0
        async with BlackHole() as hole:
            feed = make_feed(hole.url, Recorder(), open_timeout_s=30.0)
            async with running(feed) as (stop, task):
                await eventually(lambda: hole.accepted == 1)
                started = time.monotonic()
                stop.set()
                await asyncio.wait_for(task, 2)
                assert time.monotonic() - started < 2.0

    run_async(scenario)


# ---------------------------------------------------------------- watchdog and keepalive


def test_watchdog_recycles_a_silent_connection_while_the_market_is_open() -> None:
    async def scenario() -> None:
        events = Recorder()
        async with FakeFeed(lambda n: Plan(frames=1 if n == 0 else 0)) as server:
            feed = make_feed(server.url, events, silence_s=0.4, market_open=True)
            async with running(feed):
                await eventually(lambda: len(events.frames) == 1)
                started = time.monotonic()
                await eventually(lambda: feed.status().watchdog is Watchdog.SILENT, 2)
                await eventually(lambda: len(server.conns) >= 2, 2)
                took = time.monotonic() - started
                status = feed.status()
        assert took < 0.4 + 1.0
        assert status.recycles >= 1 and status.watchdog is Watchdog.SILENT
        assert "watchdog" in events.disconnected[0][1]
        assert server.conns[1].keys == list(KEYS)

    run_async(scenario)


def test_watchdog_leaves_a_quiet_connection_alone_while_the_market_is_closed() -> None:
    async def scenario() -> None:
        events = Recorder()
        async with FakeFeed(lambda n: Plan(frames=1)) as server:
            feed = make_feed(server.url, events, silence_s=0.2, market_open=False)
            async with running(feed):
                await eventually(lambda: len(events.frames) == 1)
                await asyncio.sleep(0.8)
                status = feed.status()
        assert status.watchdog is Watchdog.IDLE_MARKET
        assert status.connected and status.recycles == 0
        assert status.silence_s is not None and status.silence_s >= 0.6
        assert len(server.conns) == 1

    run_async(scenario)


def test_peer_that_stops_answering_pings_is_dropped_and_replaced() -> None:
    async def scenario() -> None:
        events = Recorder()
        plans = {0: Plan(frames=1, then="deaf")}
        async with FakeFeed(lambda n: plans.get(n, Plan(frames=1))) as server:
            feed = make_feed(
                server.url, events, market_open=False, ping_interval_s=0.1, ping_timeout_s=0.2
            )
            async with running(feed):
                await eventually(lambda: len(server.conns) >= 2, 3)
        assert "keepalive" in events.disconnected[0][1] or "1011" in events.disconnected[0][1]

    run_async(scenario)


# ---------------------------------------------------------------- the consumer boundary


def test_a_failing_on_frame_is_counted_and_the_feed_goes_on() -> None:
    def fail(n: int) -> BaseException | None:
        if n == 2:
            return ValueError("consumer bug")
        if n == 3:
            return StoreBusyError("store busy")
        return None

    async def scenario() -> None:
        events = Recorder(fail)
        async with FakeFeed(lambda n: Plan(frames=6, text_first=True)) as server:
            feed = make_feed(server.url, events)
            async with running(feed):
                await eventually(lambda: len(events.frames) == 6)
                status = feed.status()
        assert status.handler_errors == 2
        assert status.text_messages == 1
        assert status.frames == 6 and len(server.conns) == 1

    run_async(scenario)


def test_a_stop_policy_error_from_on_frame_stops_the_feed_and_is_raised() -> None:
    def fail(n: int) -> BaseException | None:
        return DataIntegrityError("journal corrupt") if n == 2 else None

    async def scenario() -> None:
        events = Recorder(fail)
        async with FakeFeed(lambda n: Plan(frames=5)) as server:
            feed = make_feed(server.url, events)
            with pytest.raises(DataIntegrityError, match="journal corrupt"):
                await feed.run(asyncio.Event())
        assert len(events.frames) == 2
        assert events.order == ["connected", "disconnected"]
        assert "DataIntegrityError" in events.disconnected[0][1]
        assert feed.status().state is FeedState.STOPPED

    run_async(scenario)


def test_authorize_answer_without_a_uri_is_a_retried_failure() -> None:
    async def scenario() -> None:
        with FakeAuthorize("http://not-a-websocket") as auth:
            feed = make_feed(auth.url, Recorder())
            async with running(feed):
                await eventually(lambda: len(auth.calls) >= 2)
                status = feed.status()
        assert status.last_error is not None and "ws://" in status.last_error
        assert json.dumps(status.last_error)  # plain text

    run_async(scenario)


def test_a_server_that_hangs_up_after_each_frame_is_not_hammered() -> None:
    """Data alone does not reset the backoff: the connection must also have lasted."""

    async def scenario() -> None:
        events = Recorder()
        async with FakeFeed(lambda n: Plan(frames=1, then="close")) as server:
            feed = make_feed(
                server.url, events, rng=MaxRng(), backoff_initial_s=0.02, backoff_max_s=0.16
            )
            async with running(feed):
                await asyncio.sleep(0.6)
        # waits 0.04, 0.08, 0.16, 0.16 ... would be 0.02 each if every frame reset them
        assert 2 <= len(server.conns) <= 7
        assert all("1001" in reason for _, reason in events.disconnected[:-1])

    run_async(scenario)


def test_a_connection_that_lasted_the_stable_window_resets_the_backoff() -> None:
    """A link that drops now and then, after working a while, is back at once every time.

    Found by tests/reliability/test_network.py: when only a connection that lasted
    backoff_max_s counted as good, drops every 30 s grew the waits to the 30 s cap.
    """

    async def scenario() -> None:
        events = Recorder()
        async with FakeFeed(lambda n: Plan(frames=6, interval_s=0.1, then="abort")) as server:
            feed = make_feed(
                server.url,
                events,
                rng=MaxRng(),
                backoff_initial_s=0.2,
                backoff_max_s=10.0,
                stable_s=0.4,
            )
            async with running(feed):
                await eventually(lambda: len(events.connected) >= 5, timeout_s=15)
        waits = [
            (up - down).total_seconds()
            for (down, _), up in zip(events.disconnected, events.connected[1:], strict=False)
        ]
        # Each wait is backoff_initial_s plus a reconnect; without the reset they would be
        # 0.4, 0.8, 1.6, 3.2: the bound leaves a loaded machine 0.2 s for the reconnect.
        assert len(waits) >= 4 and max(waits) < 0.4, waits

    run_async(scenario)
