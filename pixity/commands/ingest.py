"""``pixity ingest``: the companion ingest loop, the only writer of ``data/live_buffer/``.

The token comes from ``UPSTOX_ACCESS_TOKEN`` and is never printed or logged; a ``ws://``
feed URL on the loopback (the local exchange) accepts any token, so there it may be unset.
``--feed replay --replay JOURNAL`` plays a recorded journal instead of a websocket (offline
runs and tests).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pixity.commands.common import add_common, bounded, instrument_key
from pixity.errors import ConfigError

if TYPE_CHECKING:
    from pixity.feeds.secret import Secret
    from pixity.ingest.app import FeedFactory, FeedSource
    from pixity.ingest.config import IngestConfig
    from pixity.ingest.health import IngestHealth
    from pixity.ingest.pipeline import Pipeline
    from pixity.ingest.replay_feed import FeedEvents

TOKEN_ENV = "UPSTOX_ACCESS_TOKEN"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ingest``."""
    parser = commands.add_parser(
        "ingest", help="companion ingest loop: feed -> journal -> 1m bars -> live buffer"
    )
    add_common(parser)
    parser.add_argument("--feed", choices=["upstox", "replay"], default="upstox")
    parser.add_argument("--feed-url", default=None, help="websocket URL (default: Upstox's)")
    parser.add_argument("--symbols", nargs="+", type=instrument_key, required=True, metavar="KEY")
    parser.add_argument("--mode", choices=["full", "ltpc"], default="full")
    parser.add_argument(
        "--health-port", type=bounded(int, 0, 65535), default=8766, help="0 = any free port"
    )
    parser.add_argument("--replay", type=Path, help="with --feed replay: the journal to play")
    parser.add_argument(
        "--replay-speed", type=bounded(float, 0, 1e6), default=0.0, help="0 = as fast as it can"
    )
    parser.add_argument(
        "--buffer-cap",
        type=bounded(int, 1, 100_000_000),
        default=1_000_000,
        help="ticks held in memory before ingest only journals (default 1000000)",
    )
    _connection_flags(parser.add_argument_group("feed connection (--feed upstox)"))
    parser.set_defaults(handler=_run)


def _connection_flags(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--no-data-timeout",
        type=bounded(float, 1, 3600),
        default=60.0,
        metavar="S",
        help="while the market is open, a connection that delivers no frame for S seconds is "
        "reported (watchdog: silent) and replaced; silence while it is closed is normal "
        "(default 60)",
    )
    group.add_argument(
        "--open-timeout",
        type=bounded(float, 0.5, 300),
        default=10.0,
        metavar="S",
        help="give up opening a connection (authorize, connect, websocket handshake, "
        "subscribe) after S seconds, count it and retry (default 10)",
    )
    group.add_argument(
        "--backoff-max",
        type=bounded(float, 0.5, 600),
        default=30.0,
        metavar="S",
        help="longest wait before a reconnection: waits are drawn uniformly up to 0.5 s, "
        "doubling the bound after each failed attempt up to S (default 30)",
    )


def _run(args: argparse.Namespace) -> int:
    from pixity.feeds.secret import RedactFilter
    from pixity.ingest.config import IngestConfig
    from pixity.ingest.health import IngestHealth

    secret = _token(args)
    secrets = (secret,) if secret is not None else ()
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactFilter(*secrets))
    config = IngestConfig(
        data_dir=args.data_dir, symbols=tuple(args.symbols), buffer_cap_ticks=int(args.buffer_cap)
    )
    health = IngestHealth(stale_tick_s=config.stale_tick_s, secrets=secrets)
    return asyncio.run(_serve(config, _feed_factory(args, secret), int(args.health_port), health))


async def _serve(
    config: IngestConfig, factory: FeedFactory, port: int, health: IngestHealth
) -> int:
    from pixity.ingest.app import run_ingest

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def announce(line: str) -> None:
        print(line, flush=True)

    return await run_ingest(config, factory, stop=stop, port=port, announce=announce, health=health)


def _token(args: argparse.Namespace) -> Secret | None:
    """Return the access token (None for a replay); refuse a missing one unless loopback ws://."""
    from pixity.feeds.secret import Secret

    if args.feed == "replay":
        if args.replay is None:
            raise ConfigError("--feed replay needs --replay JOURNAL")
        return None
    if os.environ.get(TOKEN_ENV, "").strip():
        return Secret.from_env(TOKEN_ENV)
    if args.feed_url and _is_loopback_ws(args.feed_url):
        return Secret("local-exchange")  # the local exchange accepts any token
    raise ConfigError(
        f"set {TOKEN_ENV} to your Upstox access token (a ws:// loopback --feed-url needs none)"
    )


def _is_loopback_ws(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "ws" and (parts.hostname or "") in _LOOPBACK


def _feed_factory(args: argparse.Namespace, secret: Secret | None) -> FeedFactory:
    if args.feed == "replay":
        from pixity.ingest.replay_feed import ReplayFeed

        path, speed = Path(args.replay), float(args.replay_speed)

        def replay(events: FeedEvents, pipeline: Pipeline) -> FeedSource:
            return ReplayFeed(path, events, speed=speed)

        return replay

    def upstox(events: FeedEvents, pipeline: Pipeline) -> FeedSource:
        from pixity.clock import WallClock
        from pixity.feeds.upstox import UpstoxFeed
        from pixity.feeds.upstox_config import UpstoxFeedConfig
        from pixity.feeds.upstox_wire import Mode

        assert secret is not None
        config = UpstoxFeedConfig(
            keys=tuple(args.symbols),
            token=secret,
            feed_url=args.feed_url,
            mode=Mode(args.mode),
            silence_s=float(args.no_data_timeout),
            open_timeout_s=float(args.open_timeout),
            backoff_max_s=float(args.backoff_max),
        )
        return UpstoxFeed(config, events, clock=WallClock(), market_open=pipeline.market_open)

    return upstox
