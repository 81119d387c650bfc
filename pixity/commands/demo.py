"""``pixity demo``: the whole system on the local exchange, on an empty machine."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from pixity.commands.common import add_common, bounded, iso_date
from pixity.errors import ConfigError


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo``."""
    parser = commands.add_parser(
        "demo", help="run everything on the local exchange, accelerated, and show the scanner"
    )
    add_common(parser)
    parser.add_argument("--port", type=bounded(int, 1, 65535), default=8866, help="scanner port")
    parser.add_argument("--duration", type=bounded(float, 1, 86400), default=None,
                        help="stop by itself after S seconds (default: run until Ctrl-C)")  # fmt: skip
    parser.add_argument("--speed", type=bounded(float, 1, 600), default=60.0)
    parser.add_argument("--strategy", default=None, help="default: pixityAI_meta if installed")
    parser.add_argument("--date", type=iso_date, default=None,
                        help="the trading day to replay (default: the latest up to today)")  # fmt: skip
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from pixity.demo.run import DemoConfig, run
    from pixity.markettime import nse_calendar, to_ist
    from pixity.strategies import available, get_strategy

    strategy = args.strategy or (
        "pixityAI_meta" if "pixityAI_meta" in available() else "ref_ema_cross"
    )
    get_strategy(strategy)  # an unknown id, or a missing model, fails here with its message
    today = to_ist(datetime.now(UTC)).date()
    calendar = nse_calendar()
    day = today if calendar.is_trading_day(today) else calendar.previous_trading_day(today)
    if args.date is not None:
        if not calendar.is_trading_day(args.date):
            raise ConfigError(f"--date {args.date} is not an NSE trading day")
        day = args.date
    config = DemoConfig(
        data_dir=args.data_dir, day=day, strategy=strategy, scanner_port=int(args.port),
        speed=float(args.speed), duration_s=None if args.duration is None else float(args.duration),
    )  # fmt: skip
    return run(config)
