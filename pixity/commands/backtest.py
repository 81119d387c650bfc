"""``pixity backtest``: the live session's strategies and paper broker over the history lake."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from datetime import date
from typing import Any

from pixity.commands.common import add_common, bounded, instrument_key, iso_date


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``backtest``."""
    parser = commands.add_parser("backtest", help="backtest strategies on the history lake")
    add_common(parser)
    parser.add_argument("--symbols", nargs="+", type=instrument_key, required=True, metavar="KEY")
    parser.add_argument("--strategies", nargs="+", required=True, metavar="ID")
    parser.add_argument("--from", dest="start", type=iso_date, required=True, metavar="YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=iso_date, required=True, metavar="YYYY-MM-DD")
    parser.add_argument("--max-capital", type=bounded(float, 1, 1e12), default=100000.0)
    parser.add_argument("--max-daily-loss", type=bounded(float, 1, 1e12), default=5000.0)
    parser.add_argument("--slippage-bps", type=bounded(float, 0, 500), default=2.0)
    parser.add_argument(
        "--workers",
        type=bounded(int, 1, 1024),
        default=None,
        metavar="N",
        help="processes to run the days in (default: one per CPU, for 10 days or more each)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from pixity.backtest import run_backtest, summary
    from pixity.live.config import SessionConfig

    config = SessionConfig.from_params(
        {
            "symbols": list(args.symbols),
            "strategies": list(args.strategies),
            "max_capital": float(args.max_capital),
            "max_daily_loss": float(args.max_daily_loss),
            "slippage_bps": float(args.slippage_bps),
            "data_dir": args.data_dir,
            "run_id": "backtest",
        }
    )
    if args.log_level == "INFO":  # a line per refused signal would drown a long backtest
        logging.getLogger("pixity.broker").setLevel(logging.WARNING)
    progress = _progress_bar() if sys.stderr.isatty() and not args.json else None
    result = run_backtest(config, args.start, args.end, progress=progress, workers=args.workers)
    report = summary(result)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        for key, value in report.items():
            print(f"{key:>16}: {value}")
    return 0


def _progress_bar() -> Callable[[date, int, int], None]:
    """Return a progress callback drawing a tqdm bar on stderr."""
    from tqdm import tqdm

    bar: Any = None

    def progress(day: date, done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="day", file=sys.stderr)
        bar.set_postfix_str(str(day))
        bar.update(1)
        if done == total:
            bar.close()

    return progress
