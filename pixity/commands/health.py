"""``pixity health``: the whole system's health report; exit 0 ok, 1 degraded, 2 down.

Reads the ingest's ``/health`` on 127.0.0.1:``--health-port`` and every store under
``--data-dir`` read-only. ``--json`` prints the report itself (sorted keys); without it, a
summary with one line per area and the reasons.
"""

from __future__ import annotations

import argparse
import json
import os

from pixity.commands.common import add_common, bounded

TOKEN_ENV = "UPSTOX_ACCESS_TOKEN"
DEFAULT_HEALTH_PORT = 8766  # `pixity ingest`'s default --health-port


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``health``."""
    parser = commands.add_parser(
        "health", help="the whole system's health report (exit 0 ok, 1 degraded, 2 down)"
    )
    add_common(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--health-port",
        type=bounded(int, 1, 65535),
        default=DEFAULT_HEALTH_PORT,
        help=f"the ingest's health port on 127.0.0.1 (default: {DEFAULT_HEALTH_PORT})",
    )
    parser.add_argument(
        "--timeout",
        type=bounded(float, 0.05, 30),
        default=2.0,
        help="seconds to wait for the ingest's answer (default: 2)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from pixity.clock import WallClock
    from pixity.feeds.secret import Secret
    from pixity.health import build_report, exit_code, format_summary

    # Only to mask it, should any message carry it: the token is never added to the report.
    secrets = (Secret.from_env(TOKEN_ENV),) if os.environ.get(TOKEN_ENV, "").strip() else ()
    report = build_report(
        args.data_dir,
        health_port=int(args.health_port),
        clock=WallClock(),
        timeout_s=float(args.timeout),
        secrets=secrets,
    )
    if args.json:
        print(json.dumps(report, sort_keys=True, indent=2))
    else:
        print(format_summary(report))
    return exit_code(report)
