"""Rebuild the default ``pixityAI_meta`` artifact from the bundled sample market.

``python -m pixity.strategies.pixity_meta.train_default [--out DIR]`` (``make model``) trains
on ``SYMBOLS`` x the first ``DAYS`` NSE trading days of 2025 of ``SampleMarket(seed=SEED)``,
resampled to 15m bars exactly as the live session does, and writes the artifact to ``DIR``
(default: the one shipped in the package). The same library versions on the same kind of
CPU (``training.float_platform``, recorded in the metadata) give the same bytes.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pandas as pd

from pixity.bars import resample
from pixity.frames import bars_from_frame, frame_from_bars
from pixity.markettime import nse_calendar
from pixity.sample import SampleMarket
from pixity.strategies.pixity_meta.artifact import DEFAULT_DIR, file_sha256, save_artifact
from pixity.strategies.pixity_meta.training import Trained, TrainingParams, train

log = logging.getLogger(__name__)

SEED = 7
SYMBOLS = (
    "NSE_EQ|INE002A01018",
    "NSE_EQ|INE040A01034",
    "NSE_EQ|INE009A01021",
    "NSE_EQ|INE467B01029",
    "NSE_EQ|INE090A01021",
    "NSE_EQ|INE155A01022",
)
FIRST_DAY = date(2025, 1, 1)
DAYS = 60
VERSION = "default-sample-v1"
PARAMS = TrainingParams()


def training_days(days: int = DAYS) -> list[date]:
    """Return the first ``days`` NSE trading days from ``FIRST_DAY``."""
    return nse_calendar().trading_days(FIRST_DAY, date(FIRST_DAY.year, 12, 31))[:days]


def sample_bars_15m(
    symbols: Sequence[str] = SYMBOLS, days: Sequence[date] | None = None, seed: int = SEED
) -> pd.DataFrame:
    """Return the sample market's 15m bars (resampled from its 1m bars) with the lake's columns."""
    market = SampleMarket(list(symbols), seed=seed)
    minute_bars = market.bars_frame(training_days() if days is None else days)
    return frame_from_bars(resample(bars_from_frame(minute_bars), 15))


def build_default(out: Path = DEFAULT_DIR) -> Trained:
    """Train the default artifact and save it into ``out``."""
    bars = sample_bars_15m()
    source = (
        f"SampleMarket(seed={SEED}), {len(SYMBOLS)} symbols x {DAYS} trading days from {FIRST_DAY}"
    )
    trained = train(bars, PARAMS, version=VERSION, source=source)
    save_artifact(out, trained.model, trained.metadata)
    return trained


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line: build the default artifact into ``--out``."""
    parser = argparse.ArgumentParser(
        prog="python -m pixity.strategies.pixity_meta.train_default",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_DIR, help="folder to write (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    trained = build_default(args.out)
    pooled = trained.metadata["metrics"]["pooled"]
    print(f"wrote {args.out} ({trained.metadata['training']['candidates']} candidates)")
    print(f"walk-forward: {pooled}")
    print(f"model sha256 {file_sha256(args.out / 'model.joblib')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
