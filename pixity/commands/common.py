"""Flag types and flags shared by every command."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from pixity.domain import check_symbol
from pixity.errors import InvalidValueError
from pixity.markettime import IST

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


def ist_minute(text: str) -> datetime:
    """Parse a 'YYYY-MM-DD HH:MM' market-time flag as IST."""
    try:
        parsed = datetime.strptime(text, "%Y-%m-%d %H:%M")  # noqa: DTZ007 - IST attached below
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a market time like '2025-06-02 09:15' (IST)"
        ) from None
    return parsed.replace(tzinfo=IST)


def bounded(kind: type[float] | type[int], low: float, high: float) -> Callable[[str], float]:
    """Return a flag type that parses ``kind`` and requires ``low <= value <= high``."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not in {low}..{high}")
        return value

    return parse


def add_common(parser: argparse.ArgumentParser) -> None:
    """Add ``--data-dir`` and ``--log-level``, which every command takes."""
    parser.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="where the stores live (default: data)"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level (default: INFO)",
    )
