"""``pixity live``: the live paper session (``notebooks/live_session.ipynb`` via papermill)."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime

from pixity.commands.common import add_common, bounded, instrument_key
from pixity.errors import ConfigError


def _hhmm(text: str) -> str:
    from pixity.live.config import parse_hhmm

    try:
        return parse_hhmm(text, "--until").strftime("%H:%M")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``live``."""
    parser = commands.add_parser("live", help="run the live paper session (papermill notebook)")
    add_common(parser)
    parser.add_argument("--mode", choices=["paper", "live"], default="paper")
    parser.add_argument("--symbols", nargs="+", type=instrument_key, required=True, metavar="KEY")
    parser.add_argument("--strategies", nargs="+", required=True, metavar="ID")
    parser.add_argument("--max-capital", type=bounded(float, 1, 1e12), default=100000.0)
    parser.add_argument("--max-daily-loss", type=bounded(float, 1, 1e12), default=5000.0)
    parser.add_argument("--until", type=_hhmm, default=None, help="HH:MM IST on the feed's clock")
    parser.add_argument("--slippage-bps", type=bounded(float, 0, 500), default=2.0)
    parser.add_argument("--run-id", default=None, help="default: the UTC time and the pid")
    parser.add_argument(
        "--stop-timeout", type=bounded(float, 1, 3600), default=120.0,
        help="seconds a stopping session may take to save its report",
    )  # fmt: skip
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from pixity.live import launch
    from pixity.live.config import SessionConfig
    from pixity.strategies import get_strategy

    if args.mode == "live":
        raise ConfigError(
            "--mode live is not available: pixity trades paper only for now (use --mode paper)"
        )
    for strategy_id in args.strategies:
        get_strategy(strategy_id)  # an unknown id fails here, with the list of known ones
    run_id = args.run_id or f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}"
    parameters: dict[str, object] = {
        "mode": args.mode,
        "symbols": list(args.symbols),
        "strategies": list(args.strategies),
        "max_capital": float(args.max_capital),
        "max_daily_loss": float(args.max_daily_loss),
        "until": args.until or "",
        "slippage_bps": float(args.slippage_bps),
        "log_level": args.log_level,
    }
    SessionConfig.from_params(
        {k: v for k, v in parameters.items() if k != "log_level"} | {"run_id": run_id}
    )  # refuse bad values before starting anything
    plan = launch.plan(parameters, data_dir=args.data_dir, run_id=run_id)
    return launch.run(plan, stop_timeout_s=float(args.stop_timeout))
