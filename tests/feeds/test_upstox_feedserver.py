"""The adapter against pixity's own local exchange (``pixity.feedserver``), both entry paths."""

from __future__ import annotations

import random
from datetime import date

import pytest
from upstox_fakes import KEYS, TOKEN, Recorder, eventually, run_async, running

from pixity.clock import WallClock
from pixity.feeds.secret import Secret
from pixity.feeds.upstox import UpstoxFeed, UpstoxFeedConfig
from pixity.feeds.upstox_wire import FrameKind, decode_frame
from pixity.markettime import session_open, to_epoch_ms

feedserver = pytest.importorskip("pixity.feedserver.server")
config_mod = pytest.importorskip("pixity.feedserver.config")
source = pytest.importorskip("pixity.feedserver.source")

DAY = date(2025, 1, 6)
SYMBOLS = KEYS[:2]


@pytest.mark.parametrize("path", ["authorize", "direct"])
def test_feed_streams_from_the_local_exchange(path: str) -> None:
    async def scenario() -> None:
        server = feedserver.FeedServer(
            config_mod.ServerConfig(port=0, speed=60.0, require_token=TOKEN),
            source.sample_tape(SYMBOLS, seed=1, day=DAY),
            to_epoch_ms(session_open(DAY)),
        )
        await server.start()
        try:
            url = server.url if path == "direct" else server.url.replace("ws://", "http://")
            if path == "authorize":
                url += "/authorize"
            events = Recorder()
            feed = UpstoxFeed(
                UpstoxFeedConfig(keys=SYMBOLS, token=Secret(TOKEN), feed_url=url),
                events,
                clock=WallClock(),
                market_open=lambda: True,
                rng=random.Random(1),
            )
            async with running(feed):
                await eventually(lambda: len(events.frames) >= 20, 8)
        finally:
            await server.shutdown()
        kinds = {decode_frame(raw).kind for raw, _ in events.frames}
        assert FrameKind.LIVE_FEED in kinds
        keys = {q.key for raw, _ in events.frames for q in decode_frame(raw).quotes}
        assert keys <= set(SYMBOLS) and keys
        assert len(events.connected) == 1

    run_async(scenario, timeout_s=15)
