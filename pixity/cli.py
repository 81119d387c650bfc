"""The ``pixity`` command line (also ``python -m pixity``).

Only the top level here catches errors, and it applies each error's policy: a clear one-line
message and a non-zero exit, never a traceback for a mistake the user can fix.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from pixity import __version__
from pixity.domain import check_symbol
from pixity.errors import ConfigError, InvalidValueError, PixityError

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]


def instrument_key(text: str) -> str:
    """Parse an instrument key flag, with the expected form in the error."""
    try:
        return check_symbol(text)
    except InvalidValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def iso_date(text: str) -> date:
    """Parse a YYYY-MM-DD flag."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-06-02") from None


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="where the stores live (default: data)"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level (default: INFO)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the parser for every ``pixity`` command."""
    parser = argparse.ArgumentParser(
        prog="pixity", description="Research-to-live intraday trading for NSE equities."
    )
    parser.add_argument("--version", action="version", version=f"pixity {__version__}")
    parser.set_defaults(handler=None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    history = commands.add_parser(
        "history", help="the 1m history lake (Parquet under data/history)"
    )
    history_cmds = history.add_subparsers(
        dest="history_command", metavar="SUBCOMMAND", required=True
    )

    sample = history_cmds.add_parser(
        "sample", help="write the seeded sample market's 1m bars into the lake (no download)"
    )
    _common(sample)
    sample.add_argument("--symbols", nargs="+", type=instrument_key, required=True, metavar="KEY")
    sample.add_argument("--from", dest="start", type=iso_date, required=True, metavar="YYYY-MM-DD")
    sample.add_argument("--to", dest="end", type=iso_date, required=True, metavar="YYYY-MM-DD")
    sample.add_argument("--seed", type=int, default=7)
    sample.set_defaults(handler=_history_sample)

    listing = history_cmds.add_parser("list", help="list the dates and symbols held in the lake")
    _common(listing)
    listing.set_defaults(handler=_history_list)
    return parser


def _history_sample(args: argparse.Namespace) -> int:
    from pixity.markettime import nse_calendar
    from pixity.sample import SampleMarket
    from pixity.stores.lake import write_bars

    if args.end < args.start:
        raise ConfigError(f"--to {args.end} is before --from {args.start}")
    market = SampleMarket(args.symbols, seed=args.seed)
    days = nse_calendar().trading_days(args.start, args.end)
    if not days:
        raise ConfigError(f"no NSE trading day between {args.start} and {args.end}")
    total = 0
    for day in days:
        bars = market.bars_1m(day)
        write_bars(args.data_dir, bars)
        total += len(bars)
    print(f"wrote {total} 1m bars for {len(args.symbols)} symbols over {len(days)} trading days")
    print(f"into {args.data_dir / 'history' / 'bars_1m'}")
    return 0


def _history_list(args: argparse.Namespace) -> int:
    from pixity.stores.lake import available_dates

    dates = available_dates(args.data_dir)
    if not dates:
        print(f"no history under {args.data_dir / 'history'}: try `pixity history sample`")
        return 0
    print(f"{len(dates)} dates: {dates[0]} .. {dates[-1]}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = args.handler
    if handler is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return handler(args)
    except (ConfigError, InvalidValueError) as exc:
        print(f"pixity: error: {exc}", file=sys.stderr)
        return 2
    except PixityError as exc:
        log.error("%s failed: %s", args.command, exc, exc_info=True)
        print(f"pixity: error: {exc}", file=sys.stderr)
        return 1
