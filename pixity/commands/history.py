"""``pixity history``: the 1m history lake."""

from __future__ import annotations

import argparse
from pathlib import Path

from pixity.commands.common import add_common, bounded, instrument_key, iso_date
from pixity.errors import ConfigError


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``history sample``, ``history list``, ``history import`` and ``history fetch``."""
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

    imported = sub.add_parser(
        "import", help="import a broker's CSV export of 1m candles for one symbol into the lake"
    )
    add_common(imported)
    imported.add_argument("--csv", type=Path, required=True, metavar="PATH")
    imported.add_argument("--symbol", type=instrument_key, required=True, metavar="KEY")
    imported.add_argument(
        "--tz",
        choices=["IST", "UTC"],
        default="IST",
        help="zone of times written without an offset (default: IST)",
    )
    imported.add_argument(
        "--skip-bad", action="store_true", help="write the good rows and list the bad ones"
    )
    imported.set_defaults(handler=_import)

    fetch = sub.add_parser(
        "fetch", help="fetch 1m candles from the Upstox historical-candle API into the lake"
    )
    add_common(fetch)
    fetch.add_argument("--symbols", nargs="+", type=instrument_key, required=True, metavar="KEY")
    fetch.add_argument("--from", dest="start", type=iso_date, required=True, metavar="YYYY-MM-DD")
    fetch.add_argument("--to", dest="end", type=iso_date, required=True, metavar="YYYY-MM-DD")
    fetch.add_argument(
        "--api-url",
        default=None,
        metavar="URL",
        help="Upstox API base, .../v2 or .../v3 (default: https://api.upstox.com/v2)",
    )
    fetch.add_argument(
        "--timeout",
        type=bounded(float, 0.1, 600),
        default=30.0,
        metavar="S",
        help="seconds to wait for each answer (default: 30)",
    )
    fetch.add_argument(
        "--retries",
        type=bounded(int, 0, 10),
        default=3,
        metavar="N",
        help="retries of a request on 429, 5xx or a timeout, with backoff (default: 3)",
    )
    fetch.add_argument(
        "--skip-bad", action="store_true", help="write the good candles and list the bad ones"
    )
    fetch.set_defaults(handler=_fetch)


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


def _import(args: argparse.Namespace) -> int:
    from datetime import UTC

    from pixity.history.csv_import import import_csv
    from pixity.markettime import IST

    summary = import_csv(
        args.csv,
        symbol=args.symbol,
        data_dir=args.data_dir,
        naive_tz=IST if args.tz == "IST" else UTC,
        skip_bad=args.skip_bad,
    )
    print("\n".join(summary.lines()))
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from pixity.feeds.secret import Secret
    from pixity.history.upstox_fetch import fetch_symbol
    from pixity.history.upstox_http import DEFAULT_API_URL, TOKEN_ENV, FetchPolicy, UpstoxCandles

    if args.end < args.start:
        raise ConfigError(f"--to {args.end} is before --from {args.start}")
    token = Secret.from_env(TOKEN_ENV)
    policy = FetchPolicy(timeout_s=args.timeout, attempts=args.retries + 1)
    client = UpstoxCandles(api_url=args.api_url or DEFAULT_API_URL, token=token, policy=policy)
    for key in args.symbols:
        summary = fetch_symbol(
            client, key, args.start, args.end, data_dir=args.data_dir, skip_bad=args.skip_bad
        )
        # Printed as each symbol lands, so a later failure leaves a record of what was written.
        print("\n".join(summary.lines()), flush=True)
    return 0
