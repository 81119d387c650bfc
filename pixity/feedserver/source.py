"""Where the local exchange's ticks come from: the seeded sample market, or a replay.

- ``sample_tape``: ``SampleMarket(symbols, seed).ticks(day)``, the whole day at once;
- ``replay_tape``: a pixity journal of received ``FeedResponse`` frames (each record decoded
  with ``decode_frame``; repeats of a key's last quote, as a reconnect's ``initial_feed``
  snapshot sends, are dropped) or a Parquet file with the ``ticks`` table's columns
  (``symbol, ltt, ltp, ltq, vtt, seq`` and optionally ``volume``).

A replay keeps each tick's ``ltt``, ``ltp``, ``ltq`` and ``vtt`` as they were.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from pixity.errors import ConfigError
from pixity.feeds.journal import MAGIC as JOURNAL_MAGIC
from pixity.feeds.journal import read_journal
from pixity.feeds.upstox_wire import FrameKind, MalformedFrameError, decode_frame
from pixity.feedserver.tape import Tape
from pixity.sample import SampleMarket

log = logging.getLogger(__name__)

_PARQUET_MAGIC = b"PAR1"
_REQUIRED = ("symbol", "ltt", "ltp", "ltq", "vtt")


def sample_tape(symbols: Sequence[str], seed: int, day: date) -> Tape:
    """Return the sample market's ticks of ``symbols`` on trading day ``day``."""
    started = time.perf_counter()
    market = SampleMarket(list(symbols), seed=seed)
    ticks = market.ticks(day)
    index = {s: i for i, s in enumerate(market.symbols)}
    prev_close = np.array(
        [round(market.day_plan(s, day).prev_close * 20) / 20 for s in market.symbols]
    )
    key_index = np.fromiter((index[t.symbol] for t in ticks), np.int32, len(ticks))
    tape = Tape(
        market.symbols,
        key_index,
        ltt=np.fromiter((round(t.ts.timestamp() * 1000) for t in ticks), np.int64, len(ticks)),
        ltp=np.fromiter((t.price for t in ticks), np.float64, len(ticks)),
        ltq=np.fromiter((t.last_qty for t in ticks), np.int64, len(ticks)),
        vtt=np.fromiter((-1 if t.cum_volume is None else t.cum_volume for t in ticks), np.int64),
        close_price=prev_close[key_index],
        volume=np.fromiter((t.volume for t in ticks), np.int64, len(ticks)),
    )
    log.info(
        "sample market: %d ticks of %d symbols on %s built in %.1f s",
        len(tape),
        len(symbols),
        day,
        time.perf_counter() - started,
    )
    return tape


def replay_tape(path: Path, symbols: Sequence[str] | None = None) -> Tape:
    """Return the ticks of a journal or Parquet ``path`` (only ``symbols``, if given)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise ConfigError(f"--replay {path}: cannot read: {exc}") from None
    if head == JOURNAL_MAGIC:
        frame = _journal_frame(path)
    elif head == _PARQUET_MAGIC:
        frame = _parquet_frame(path)
    else:
        raise ConfigError(f"--replay {path} is neither a pixity journal nor a Parquet file")
    if symbols:
        frame = frame[frame["symbol"].isin(list(symbols))]
    if frame.empty:
        raise ConfigError(f"--replay {path} holds no ticks" + (" of --symbols" if symbols else ""))
    tape = _tape_from_frame(frame)
    log.info("replay %s: %d ticks of %d symbols", path, len(tape), len(tape.symbols))
    return tape


def _tape_from_frame(frame: pd.DataFrame) -> Tape:
    names = sorted(frame["symbol"].astype(str).unique())
    index = {s: i for i, s in enumerate(names)}
    first_price = frame.groupby("symbol")["ltp"].transform("first")
    # A journal's cp is 0 where the feed left it unset; the first price stands in for it.
    close = frame["cp"].where(frame["cp"] > 0).fillna(first_price) if "cp" in frame else first_price
    return Tape(
        names,
        frame["symbol"].map(index).to_numpy(np.int32),
        ltt=frame["ltt"].to_numpy(np.int64),
        ltp=frame["ltp"].to_numpy(np.float64),
        ltq=frame["ltq"].fillna(0).to_numpy(np.int64),
        vtt=frame["vtt"].astype("Float64").fillna(-1).to_numpy(np.int64),
        close_price=close.to_numpy(np.float64),
        volume=frame["volume"].to_numpy(np.int64) if "volume" in frame else None,
    )


def _parquet_frame(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds; all mean "bad file"
        raise ConfigError(f"--replay {path}: cannot read Parquet: {exc}") from None
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise ConfigError(f"--replay {path} lacks the ticks columns {missing}")
    order = ["ltt", "seq"] if "seq" in frame.columns else ["ltt"]
    columns = [*_REQUIRED, *(["volume"] if "volume" in frame.columns else [])]
    frame = frame.sort_values(order, kind="stable")[columns]
    if frame["ltt"].isna().any() or frame["symbol"].isna().any():
        raise ConfigError(f"--replay {path} has ticks without a symbol or ltt")
    return frame.reset_index(drop=True)


def _journal_frame(path: Path) -> pd.DataFrame:
    rows: list[tuple[str, int, float, int | None, int | None, float | None]] = []
    last: dict[str, tuple[object, ...]] = {}
    bad = 0
    for record in read_journal(path):
        try:
            decoded = decode_frame(record.payload)
        except MalformedFrameError:
            bad += 1
            continue
        if decoded.kind is FrameKind.MARKET_INFO:
            continue
        for q in decoded.quotes:
            if q.ltp is None or q.ltt_ms is None:
                continue
            row = (q.key, q.ltt_ms, q.ltp, q.ltq, q.vtt, q.close_price)
            if last.get(q.key) == row:
                continue  # a snapshot repeating the key's last quote
            last[q.key] = row
            rows.append(row)
    if bad:
        log.warning("replay %s: skipped %d records that are not FeedResponse frames", path, bad)
    frame = pd.DataFrame(rows, columns=["symbol", "ltt", "ltp", "ltq", "vtt", "cp"])
    frame["vtt"] = frame["vtt"].astype("Int64")
    return frame.sort_values("ltt", kind="stable").reset_index(drop=True)
