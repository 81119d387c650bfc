"""Helpers for the fuzz tests: real frames from the local exchange, mutators, an in-process ingest.

The corpus is what a real ``pixity feed-server`` process sent to a real websocket client, as
its ``--record`` journal holds it. Mutants are made from it in two ways: byte mutations (bit
flips, overwritten bytes, truncation, insertion, deletion, splices of two frames, repeated
chunks), which mostly give bytes that are not a ``FeedResponse``, and field mutations (the
frame parsed, one value set to an extreme, serialized again), which give well-formed frames
carrying bad values, so the validator behind the decoder is reached too.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from procs import Proc  # the e2e tests' process runner, shared
from sent import trades_of
from suite import SOAK  # noqa: F401  (imported from here by the older tests)
from upstox_client.feeder.proto import MarketDataFeedV3_pb2 as pb
from websockets.sync.client import connect

from pixity.domain import Tick
from pixity.feeds.journal import read_journal
from pixity.feeds.upstox_trades import decode_trades
from pixity.feeds.upstox_wire import (
    MalformedFrameError,
    Method,
    Mode,
    build_request,
    decode_frame,
)
from pixity.ingest.app import Ingest
from pixity.ingest.config import IngestConfig
from pixity.ingest.pipeline import Mode as PipeMode
from pixity.markettime import ist, to_epoch_ms

FULL_KEYS = ("NSE_EQ|INE155A01022", "NSE_EQ|INE118H01025")
LTPC_KEYS = ("NSE_EQ|INE002A01018", "NSE_EQ|INE467B01029")
KEYS = FULL_KEYS + LTPC_KEYS
UNSUBSCRIBED = "NSE_EQ|INE000X00000"
DAY_START = ist(2025, 6, 2, 9, 15)


# ---------------------------------------------------------------- the corpus


def record_frames(workdir: Path, *, seconds: float, speed: float = 120.0) -> list[bytes]:
    """Run a real feed-server from 09:15, take its feed for ``seconds``; return the frames sent.

    Two keys are subscribed in full mode and two in ltpc mode, so both shapes are in it.
    """
    record = workdir / "sent.journal"
    server = Proc(
        ["feed-server", "--symbols", *KEYS, "--port", "0", "--seed", "7", "--speed", str(speed),
         "--start", DAY_START.strftime("%Y-%m-%d %H:%M"), "--record", str(record),
         "--data-dir", str(workdir / "fs")],
        workdir / "feed-server.log",
    )  # fmt: skip
    try:
        url = server.wait_for(r"(ws://127\.0\.0\.1:\d+/v3/feed/market-data-feed)").group(1)
        headers = {"Authorization": "Bearer fuzz-corpus"}
        with connect(url, additional_headers=headers, compression=None, max_size=None) as ws:
            ws.send(build_request(Method.SUB, FULL_KEYS, Mode.FULL))
            ws.send(build_request(Method.SUB, LTPC_KEYS, Mode.LTPC))
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    ws.recv(timeout=0.5)
                except TimeoutError:
                    continue
    finally:
        assert server.stop() == 0
    return [r.payload for r in read_journal(record)]


def sent_ticks(frames: Sequence[bytes]) -> list[Tick]:
    """Return the trades of ``frames``' live_feed entries, volume from each key's vtt change."""
    return trades_of(decode_frame(raw) for raw in frames)


# ---------------------------------------------------------------- byte mutations


def _flip(rng: random.Random, b: bytearray, pool: Sequence[bytes]) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return b


def _overwrite(rng: random.Random, b: bytearray, pool: Sequence[bytes]) -> bytearray:
    for _ in range(rng.randint(1, 4)):
        b[rng.randrange(len(b))] = rng.choice((0x00, 0x7F, 0x80, 0xFF, rng.randrange(256)))
    return b


def _truncate(rng: random.Random, b: bytearray, pool: Sequence[bytes]) -> bytearray:
    return b[: rng.randrange(len(b))]


def _insert(rng: random.Random, b: bytearray, pool: Sequence[bytes]) -> bytearray:
    at = rng.randrange(len(b) + 1)
    b[at:at] = rng.randbytes(rng.randint(1, 16))
    return b


def _delete(rng: random.Random, b: bytearray, pool: Sequence[bytes]) -> bytearray:
    at = rng.randrange(len(b))
    del b[at : at + rng.randint(1, 32)]
    return b


def _splice(rng: random.Random, b: bytearray, pool: Sequence[bytes]) -> bytearray:
    other = rng.choice(pool)
    return b[: rng.randrange(len(b) + 1)] + other[rng.randrange(len(other) + 1) :]


def _repeat(rng: random.Random, b: bytearray, pool: Sequence[bytes]) -> bytearray:
    i, j = sorted(rng.randrange(len(b) + 1) for _ in range(2))
    b[j:j] = b[i:j]
    return b


ByteOp = Callable[[random.Random, bytearray, Sequence[bytes]], bytearray]
BYTE_OPS: dict[str, ByteOp] = {
    "flip": _flip,
    "overwrite": _overwrite,
    "truncate": _truncate,
    "insert": _insert,
    "delete": _delete,
    "splice": _splice,
    "repeat": _repeat,
}


def mutate_bytes(rng: random.Random, raw: bytes, pool: Sequence[bytes]) -> tuple[str, bytes]:
    """Return (operation, mutant) for one random byte mutation of ``raw``."""
    if not raw:
        return "random", rng.randbytes(rng.randint(1, 64))
    name = rng.choice(tuple(BYTE_OPS))
    return name, bytes(BYTE_OPS[name](rng, bytearray(raw), pool))


# ---------------------------------------------------------------- field mutations

INT64 = (-(2**63), -1, 0, 1, 2**31, 2**53 + 1, 2**62, 2**63 - 1)
PRICES = (math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, 5e-324, 1e308, 100.05)
# Stamps: not times at all, past the NSE calendar (the ingest stops before acting), earlier
# than the feed's clock (ignored), and two that end the session day (the exchange's clock
# rules: the ingest rolls the day over, so a stream fed to one ingest leaves them out).
TS_HARMLESS = (
    0, -1, 1, 2**62, 2**63 - 1, -(2**63),
    to_epoch_ms(ist(2200, 1, 1, 10, 0)), to_epoch_ms(ist(1990, 1, 1, 10, 0)),
    to_epoch_ms(ist(2025, 6, 2, 8, 0)), to_epoch_ms(ist(2025, 6, 1, 10, 0)),
)  # fmt: skip
TS_DAY_ENDING = (to_epoch_ms(ist(2025, 6, 3, 10, 0)), to_epoch_ms(ist(2025, 6, 2, 16, 0)))
TS = TS_HARMLESS + TS_DAY_ENDING
BAD_KEYS = (UNSUBSCRIBED, "", "NSE_EQ|", "x" * 2000, "NSE_EQ|INE155A01022\x00", "NSE_EQ|ÌNÉ\u202e")


def _ltpc_of(feed: pb.Feed) -> pb.LTPC:
    union = feed.WhichOneof("FeedUnion")
    if union == "fullFeed":
        return feed.fullFeed.marketFF.ltpc
    if union == "firstLevelWithGreeks":
        return feed.firstLevelWithGreeks.ltpc
    return feed.ltpc


def _entry(rng: random.Random, m: pb.FeedResponse) -> tuple[str, pb.Feed]:
    if not m.feeds:
        key = rng.choice(KEYS)
        m.feeds[key].ltpc.SetInParent()
    key = rng.choice(sorted(m.feeds))
    return key, m.feeds[key]


def _field_mutation(rng: random.Random, m: pb.FeedResponse, stamps: Sequence[int]) -> str:
    op = rng.choice(
        ("current_ts", "type", "key", "ltp", "ltt", "ltq", "vtt", "union", "flood", "status")
    )
    if op == "current_ts":
        m.currentTs = rng.choice(stamps)
    elif op == "type":
        m.type = rng.choice((3, 7, 99, 2**31 - 1))
    elif op == "key":
        key, feed = _entry(rng, m)
        copy = pb.Feed()
        copy.CopyFrom(feed)
        del m.feeds[key]
        m.feeds[rng.choice(BAD_KEYS)].CopyFrom(copy)
    elif op == "ltp":
        _ltpc_of(_entry(rng, m)[1]).ltp = rng.choice(PRICES)
    elif op == "ltt":
        _ltpc_of(_entry(rng, m)[1]).ltt = rng.choice(TS)
    elif op == "ltq":
        _ltpc_of(_entry(rng, m)[1]).ltq = rng.choice(INT64)
    elif op == "vtt":
        _entry(rng, m)[1].fullFeed.marketFF.vtt = rng.choice(INT64)
    elif op == "union":
        feed = _entry(rng, m)[1]
        ltpc = pb.LTPC()
        ltpc.CopyFrom(_ltpc_of(feed))
        target = rng.choice(("index", "greeks", "ltpc", "none"))
        if target == "index":
            feed.fullFeed.indexFF.ltpc.CopyFrom(ltpc)
        elif target == "greeks":
            feed.firstLevelWithGreeks.ltpc.CopyFrom(ltpc)
            feed.firstLevelWithGreeks.vtt = rng.choice(INT64)
        elif target == "ltpc":
            feed.ltpc.CopyFrom(ltpc)
        else:
            feed.Clear()
    elif op == "flood":
        for i in range(rng.randint(100, 600)):
            entry = m.feeds[rng.choice((*KEYS, f"NSE_EQ|INE{i:06d}X01"))].ltpc
            entry.ltp, entry.ltt, entry.ltq = rng.choice(PRICES), rng.choice(TS), rng.choice(INT64)
    else:
        for segment in ("NSE_EQ", "NSE_FO", "", "\u00e9" * 50):
            m.marketInfo.segmentStatus[segment] = rng.choice((0, 3, 8, 99, -5))
    return op


def mutate_fields(rng: random.Random, raw: bytes, stamps: Sequence[int] = TS) -> tuple[str, bytes]:
    """Return (operation, mutant): ``raw`` parsed, one or two values made extreme, serialized."""
    message = pb.FeedResponse()
    message.ParseFromString(raw)
    ops = [_field_mutation(rng, message, stamps) for _ in range(rng.choice((1, 1, 1, 2)))]
    return "+".join(ops), bytes(message.SerializeToString())


def mutants(
    corpus: Sequence[bytes],
    count: int,
    *,
    seed: int,
    field_share: float = 0.3,
    stamps: Sequence[int] = TS,
) -> Iterator[tuple[str, bytes]]:
    """Yield ``count`` (operation, mutant) pairs, mutant ``i`` made from ``corpus[i % len]``.

    One in fifty is the frame before it sent again, as a feed that repeats itself does.
    """
    rng = random.Random(seed)
    has_quotes = [bool(decode_frame(raw).quotes) for raw in corpus]
    last = corpus[0]
    for i in range(count):
        base = corpus[i % len(corpus)]
        roll = rng.random()
        if roll < 0.02:
            yield "resend", last
            continue
        if roll < 0.02 + field_share and has_quotes[i % len(corpus)]:
            op, last = mutate_fields(rng, base, stamps)
        else:
            op, last = mutate_bytes(rng, base, corpus)
        yield op, last


def is_malformed(raw: bytes) -> bool:
    """Tell whether the ingest's decoder refuses ``raw`` (``decode_trades``: a fault only inside
    the depth, candles or greeks, which it does not parse, is not one it sees)."""
    try:
        decode_trades(raw)
    except MalformedFrameError:
        return True
    return False


# ---------------------------------------------------------------- an in-process ingest


@dataclass
class Timing:
    """Per-frame processing times, for the time bound and the report."""

    samples: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)

    def worst(self) -> float:
        return max(self.samples, default=0.0)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class LocalIngest:
    """A real ``Ingest`` (journal, pipeline, flusher thread, market.db) driven frame by frame."""

    def __init__(self, data_dir: Path, symbols: Sequence[str] = KEYS) -> None:
        self.config = IngestConfig(data_dir=data_dir, symbols=tuple(symbols))
        self.ingest = Ingest(self.config)
        self.ingest.start()
        self.settle()

    @property
    def pipeline(self):  # type: ignore[no-untyped-def]
        return self.ingest.pipeline

    @property
    def health(self):  # type: ignore[no-untyped-def]
        return self.ingest.health

    def settle(self, timeout: float = 30.0) -> None:
        """Pump until the pipeline is live (caught up with its journal)."""
        deadline = time.monotonic() + timeout
        while self.pipeline.mode is not PipeMode.LIVE:
            assert time.monotonic() < deadline, "the pipeline did not catch up"
            self.pipeline.pump()
            time.sleep(0.001)

    def flush(self, timeout: float = 30.0) -> None:
        """Hand everything over and wait (bounded) until it is committed."""
        self.settle()
        self.pipeline.pump()
        self.pipeline.handoff(force=True)
        assert self.ingest.flusher.wait_idle(timeout), self.health.snapshot()

    def stop(self) -> bool:
        return bool(self.ingest.stop())


def journaled_payloads(data_dir: Path) -> list[bytes]:
    """Return every frame in the data dir's daily journals, days in order."""
    folder = IngestConfig(data_dir=data_dir, symbols=KEYS).journal_dir
    return [r.payload for path in sorted(folder.glob("*.journal")) for r in read_journal(path)]


def routed(fed: Sequence[bytes], journaled: Sequence[bytes]) -> list[bool]:
    """Tell for each fed frame whether it went into a journal (journals keep the feed's order)."""
    out, j = [], 0
    for raw in fed:
        hit = j < len(journaled) and journaled[j] == raw
        out.append(hit)
        j += hit
    assert j == len(journaled), "a journal holds a frame that was never fed"
    return out
