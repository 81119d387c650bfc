"""Wire the pipeline, the flusher, the health server and a feed together; run until stopped.

Shutdown (stop event, SIGINT/SIGTERM, or the feed ending): stop the feed, hand over the last
batch with a STOPPED feed status, wait up to ``final_flush_timeout_s`` for the flusher to
commit it, close the journal and the store. Exit 0 when everything was committed, 1 when the
final flush could not complete (the data stays in the journal; the next start replays it).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Protocol

from pixity.gcfreeze import older_objects_frozen
from pixity.ingest.config import IngestConfig
from pixity.ingest.flusher import Flusher
from pixity.ingest.health import FeedHealthView, IngestHealth
from pixity.ingest.http import HealthServer
from pixity.ingest.pipeline import Mode, Pipeline
from pixity.ingest.replay_feed import FeedEvents

log = logging.getLogger(__name__)

FEED_STOP_TIMEOUT_S = 5.0


class FeedSource(Protocol):
    """A running feed: the websocket adapter or a replay."""

    async def run(self, stop: asyncio.Event) -> None: ...
    def status(self) -> FeedHealthView: ...


FeedFactory = Callable[[FeedEvents, Pipeline], FeedSource]


class Ingest:
    """The parts of one ingest process, started in order and stopped in reverse."""

    def __init__(self, config: IngestConfig, health: IngestHealth | None = None) -> None:
        self.config = config
        self.health = health or IngestHealth(stale_tick_s=config.stale_tick_s)
        self.flusher = Flusher(
            market_path=config.paths.market,
            data_dir=config.data_dir,
            health=self.health,
            feed_name=config.feed_name,
            busy_timeout_s=config.busy_timeout_s,
        )
        self.pipeline = Pipeline(config, self.health, self.flusher)

    def start(self) -> None:
        """Open the store (migrating it) and pick up the stored state."""
        self.flusher.start()
        self.pipeline.start()

    async def catch_up(self) -> None:
        """Replay the journal past the committed offset before the feed starts."""
        while self.pipeline.mode is Mode.CATCH_UP:
            self.pipeline.pump()
            await asyncio.sleep(0 if self.flusher.backlog() < self.config.max_backlog else 0.01)

    def stop(self) -> bool:
        """Final flush (bounded), close the journal and the store; return whether all committed."""
        self.pipeline.finish()
        ok = self.flusher.stop(self.config.final_flush_timeout_s)
        self.pipeline.close()
        return ok


async def run_ingest(
    config: IngestConfig,
    feed_factory: FeedFactory,
    *,
    stop: asyncio.Event,
    host: str = "127.0.0.1",
    port: int = 8766,
    announce: Callable[[str], None] = print,
    health: IngestHealth | None = None,
) -> int:
    """Run ingest until ``stop`` is set or the feed ends; return the exit code."""
    ingest = Ingest(config, health)
    ingest.start()
    server: HealthServer | None = None
    try:
        await ingest.catch_up()
        server = HealthServer(ingest.health, host=host, port=port)
        server.start()
        announce(f"ingest health on {server.url}/health")
        feed = feed_factory(ingest.pipeline, ingest.pipeline)
        ingest.health.feed_status = feed.status
        with older_objects_frozen():  # started: what lives now lives until the process ends
            await _run_until_stopped(ingest, feed, stop)
    finally:
        ok = await asyncio.to_thread(ingest.stop)
        if server is not None:
            server.stop()
    if ingest.flusher.fatal:
        print(f"pixity ingest: stopped: {ingest.flusher.fatal}", file=sys.stderr)
        return 1
    if ingest.health.feed_error:
        print(f"pixity ingest: feed failed: {ingest.health.feed_error}", file=sys.stderr)
        return 1
    if not ok:
        print(
            f"pixity ingest: the final flush did not finish in {config.final_flush_timeout_s} s; "
            "the data is in the journal and the next start replays it",
            file=sys.stderr,
        )
        return 1
    return 0


async def _run_until_stopped(ingest: Ingest, feed: FeedSource, stop: asyncio.Event) -> None:
    feed_task = asyncio.create_task(feed.run(stop), name="feed")
    try:
        while not stop.is_set() and not feed_task.done() and ingest.flusher.fatal is None:
            ingest.pipeline.pump()
            await asyncio.sleep(ingest.config.flush_interval_s)
    finally:
        stop.set()
        await _stop_feed(feed_task)
        while ingest.pipeline.mode is Mode.CATCH_UP and ingest.flusher.fatal is None:
            ingest.pipeline.pump()  # finish a replay the feed's end cut short
            await asyncio.sleep(0)


async def _stop_feed(task: asyncio.Task[None]) -> None:
    try:
        await asyncio.wait_for(task, FEED_STOP_TIMEOUT_S)
    except TimeoutError:
        log.error("feed did not stop within %.0f s; cancelled", FEED_STOP_TIMEOUT_S)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("feed failed: %s", exc, exc_info=True)
