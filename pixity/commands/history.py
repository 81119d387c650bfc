"""``pixity history``: the 1m history lake."""

from __future__ import annotations

import argparse

from pixity.commands.common import add_common, instrument_key, iso_date
from pixity.errors import ConfigError


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``history sample`` and ``history list``."""
    history = commands.add_parser(
        "history", help="the 1m history lake (Parquet under data/history)"
    )
    sub = history.add_subparsers(dest="history_command", metavar="SUBCOMMAND", required=True)

    sample = sub.add_parser(
        "sample", help="write the seeded sample market's 1m bars into the lake (no download)"
    )
    add_common(sample)
    sample.add_argument("--symbols", nargs="+", type=instrument_key, required=True, metavar="KEY")
    sample.add_argument("--from", dest="start", type=iso_date, required=True, metavar="YYYY-MM-DD")
    sample.add_argument("--to", dest="end", type=iso_date, required=True, metavar="YYYY-MM-DD")
    sample.add_argument("--seed", type=int, default=7)
    sample.set_defaults(handler=_sample)

    listing = sub.add_parser("list", help="list the dates held in the lake")
    add_common(listing)
    listing.set_defaults(handler=_list)


def _sample(args: argparse.Namespace) -> int:
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


def _list(args: argparse.Namespace) -> int:
    from pixity.stores.lake import available_dates

    dates = available_dates(args.data_dir)
    if not dates:
        print(f"no history under {args.data_dir / 'history'}: try `pixity history sample`")
        return 0
    print(f"{len(dates)} dates: {dates[0]} .. {dates[-1]}")
    return 0
