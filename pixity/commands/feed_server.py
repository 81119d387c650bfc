"""``pixity feed-server``: the local exchange, speaking the Upstox Market Data Feed V3 wire protocol.

Clients connect to ``ws://127.0.0.1:PORT/v3/feed/market-data-feed`` (any path works) with
``Authorization: Bearer <token>``, or first ``GET /v3/feed/market-data-feed/authorize`` and
follow the ``authorizedRedirectUri`` it returns, as Upstox's own flow does.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pixity.commands.common import add_common, bounded, instrument_key, ist_minute
from pixity.errors import ConfigError

if TYPE_CHECKING:  # the server's modules load only when the command runs
    from pixity.feedserver.config import ServerConfig
    from pixity.feedserver.tape import Tape

_EPILOG = """\
the simulated clock:
  sim time = --start + speed x (wall time during which at least one client was subscribed).
  With no client subscribed the clock stands still, for synthetic data and replays alike.
  --speed is a ceiling: when the server or a client cannot keep up, the clock is held back
  instead of skipping ticks. A heartbeat (live_feed with no feeds) carrying the sim time goes
  out every 20 ms of wall time. After 15:30 sim time a market_info NORMAL_CLOSE is sent,
  then heartbeats only.

faults (all off by default; --fault-seed makes them reproducible):
  rate faults apply to tick frames only; drops and stalls are wall-clock timers.
  A stall sends nothing (pings are still answered); the sim clock keeps running and ticks
  that come due during a stall are skipped (counted), so data resumes later in sim time,
  as after a real outage.
  --black-hole replaces the exchange by a listener that accepts connections and never
  answers: 'accept' never completes the websocket handshake, 'handshake' completes it and
  then sends nothing at all, not even a pong (for a client's open and ping timeouts and its
  no-data watchdog). Counted as black_hole_connections and black_hole_handshakes in --stats.
"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``feed-server``."""
    parser = commands.add_parser(
        "feed-server",
        help="local exchange: Upstox V3 websocket feed, synthetic or replayed, with faults",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(parser)
    _market_flags(parser)
    _network_flags(parser)
    _fault_flags(parser.add_argument_group("fault injection"))
    parser.set_defaults(handler=_run)


def _market_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--symbols",
        nargs="+",
        type=instrument_key,
        metavar="KEY",
        help="instrument keys to trade (required unless --replay; with it, a filter)",
    )
    parser.add_argument(
        "--start",
        type=ist_minute,
        metavar="'YYYY-MM-DD HH:MM'",
        help="sim start, IST (default: 09:15 of the latest NSE trading day up to today; "
        "with --replay, the first tick's time)",
    )
    parser.add_argument(
        "--speed",
        type=bounded(float, 0.001, 100_000),
        default=1.0,
        help="sim seconds per wall second (1 = real time, 60 = a minute a second; max 100000)",
    )
    parser.add_argument("--seed", type=int, default=7, help="sample market seed (default 7)")
    parser.add_argument(
        "--replay",
        type=Path,
        metavar="PATH",
        help="replay a pixity journal or a Parquet file with the ticks table's columns",
    )
    parser.add_argument(
        "--exit-at-close",
        action="store_true",
        help="exit 0 once the last tick is sent and the session (15:30) is over",
    )
    parser.add_argument(
        "--resend-on-resubscribe",
        dest="resend_s",
        type=float,
        default=0.0,
        metavar="S",
        help="send a client that subscribes after another disconnected the last S wall seconds "
        "of ticks again (what was in flight when the old client died); for crash tests",
    )
    parser.add_argument(
        "--record", type=Path, metavar="PATH", help="journal every frame sent, to any client"
    )
    parser.add_argument(
        "--stats", type=Path, metavar="PATH", help="write counters as JSON every second and on exit"
    )


def _network_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="bind address (non-loopback needs --require-token)"
    )
    parser.add_argument(
        "--port",
        type=bounded(int, 0, 65535),
        default=8765,
        help="port (default 8765; 0 = any free port, printed on stdout)",
    )
    parser.add_argument(
        "--require-token",
        metavar="TOKEN",
        help="accept only this bearer token (default: any non-empty token); others get 401",
    )


def _fault_flags(group: argparse._ArgumentGroup) -> None:
    seconds = bounded(float, 0.01, 86_400)
    rate = bounded(float, 0.0, 1.0)
    group.add_argument(
        "--drop-every",
        type=seconds,
        metavar="S",
        help="abort every client's TCP connection (no close frame) every S wall seconds",
    )
    group.add_argument(
        "--stall-every", type=seconds, metavar="S", help="stall all sending every S wall seconds"
    )
    group.add_argument(
        "--stall-for", type=seconds, metavar="T", help="how long each stall lasts (T < S)"
    )
    for name, what in (
        ("malformed", "replace a tick frame by bytes that are not a FeedResponse"),
        ("duplicate", "send a tick frame twice"),
        ("reorder", "hold a tick frame back and send it after the next one"),
        ("unknown-key", "add an entry for NSE_EQ|INE000X00000, which nobody subscribed"),
        ("bad-price", "give one entry of a tick frame a NaN, negative or zero ltp"),
    ):
        group.add_argument(
            f"--{name}-rate", type=rate, default=0.0, metavar="R", help=f"{what}, with chance R"
        )
    group.add_argument(
        "--black-hole",
        choices=["accept", "handshake"],
        help="accept connections and never answer: no handshake, or a handshake and then "
        "silence (no data, no pongs)",
    )
    group.add_argument("--fault-seed", type=int, default=0, help="seed of the fault draws")


def _run(args: argparse.Namespace) -> int:
    from pixity.feedserver.config import ServerConfig
    from pixity.feedserver.faults import BlackHole, FaultConfig

    faults = FaultConfig(
        drop_every_s=args.drop_every or 0.0,
        stall_every_s=args.stall_every or 0.0,
        stall_for_s=args.stall_for or 0.0,
        malformed_rate=args.malformed_rate,
        duplicate_rate=args.duplicate_rate,
        reorder_rate=args.reorder_rate,
        unknown_key_rate=args.unknown_key_rate,
        bad_price_rate=args.bad_price_rate,
        black_hole=None if args.black_hole is None else BlackHole(args.black_hole),
        seed=args.fault_seed,
    )
    config = ServerConfig(
        host=args.host,
        port=args.port,
        speed=args.speed,
        require_token=args.require_token,
        record=args.record,
        stats=args.stats,
        exit_at_close=args.exit_at_close,
        resend_s=args.resend_s,
        faults=faults,
    )
    tape, start = _market(args)
    return asyncio.run(_serve(config, tape, start))


def _market(args: argparse.Namespace) -> tuple[Tape, datetime]:
    from pixity.feedserver.source import replay_tape, sample_tape
    from pixity.markettime import from_epoch_ms, nse_calendar

    if args.replay is not None:
        tape = replay_tape(args.replay, args.symbols)
        return tape, args.start or from_epoch_ms(tape.first_ms or 0)
    if not args.symbols:
        raise ConfigError("--symbols is required (or give --replay PATH)")
    start = args.start or _default_start()
    if not nse_calendar().is_trading_day(start.date()):
        raise ConfigError(f"--start {start:%Y-%m-%d} is not an NSE trading day")
    return sample_tape(args.symbols, args.seed, start.date()), start


def _default_start() -> datetime:
    """Return 09:15 IST of the latest NSE trading day on or before today (reads the wall clock)."""
    from pixity.markettime import IST, nse_calendar, session_open

    today = datetime.now(IST).date()
    cal = nse_calendar()
    day = today if cal.is_trading_day(today) else cal.previous_trading_day(today)
    return session_open(day)


async def _serve(config: ServerConfig, tape: Tape, start: datetime) -> int:
    from pixity.feedserver.server import FeedServer
    from pixity.markettime import to_epoch_ms

    server = FeedServer(config, tape, to_epoch_ms(start))
    await server.start()
    print(f"feed-server listening on {server.url}", flush=True)
    return await server.run(handle_signals=True)
