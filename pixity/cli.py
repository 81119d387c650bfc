"""The ``pixity`` command line (also ``python -m pixity``).

Each command lives in ``pixity.commands.<name>`` and registers its own parser. Only this top
level catches errors, and it applies each error's policy: a clear one-line message and a
non-zero exit, never a traceback for a mistake the user can fix.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from pixity import __version__
from pixity.commands.common import Handler
from pixity.errors import ConfigError, InvalidValueError, PixityError

log = logging.getLogger(__name__)

# Listed in the order `pixity --help` shows them.
COMMAND_MODULES = [
    "demo",
    "feed_server",
    "ingest",
    "live",
    "scanner",
    "health",
    "history",
    "backtest",
]


def build_parser() -> argparse.ArgumentParser:
    """Return the parser for every ``pixity`` command."""
    parser = argparse.ArgumentParser(
        prog="pixity", description="Research-to-live intraday trading for NSE equities."
    )
    parser.add_argument("--version", action="version", version=f"pixity {__version__}")
    parser.set_defaults(handler=None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"pixity.commands.{name}").register(commands)
    return parser


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
