"""The pre-encoded feed entries are the very entries ``EntryEncoder`` builds, tick for tick.

The reference is the old per-entry path: ``Tape.slice`` plus ``Tape.depth`` into
``EntryEncoder.entry_full``/``entry_parts``, one encoder reused over the whole tape in order
(as the send path used it). Every entry of ``EncodedEntries`` must parse to the same
message, in both modes; and the frames ``Client.tick_frames`` packs must be the ones the
old per-tick loop packed.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fs_support import tape as sample_tape
from google.protobuf.json_format import MessageToDict
from upstox_client.feeder.proto import MarketDataFeedV3_pb2 as pb

from pixity.feeds.upstox_wire import EntryEncoder, FrameKind, decode_frame, frame_from_entries
from pixity.feedserver import entries as entries_module
from pixity.feedserver.client import FRAME_SPAN_MS, Client
from pixity.feedserver.entries import EncodedEntries
from pixity.feedserver.faults import FaultConfig, FaultInjector, TickFrame
from pixity.feedserver.market import Batch, Market
from pixity.feedserver.source import replay_tape
from pixity.feedserver.tape import Tape

T0_FULL_DAY = 1_748_835_900_000  # 2025-06-02 09:15 IST
KEYS = ("NSE_EQ|INE155A01022", "NSE_EQ|INE002A01018", "BSE_EQ|INE467B01029", "X")


def _reference(tape: Tape, full: bool) -> list[bytes]:
    """Return every tick's entry the old way: one ``EntryEncoder``, tick after tick."""
    encoder = EntryEncoder()
    out = []
    for lo in range(0, len(tape), 4096):
        s = tape.slice(lo, min(len(tape), lo + 4096))
        for j, key in enumerate(s.keys):
            ltpc = s.ltpc[j]
            if full:
                depth = tape.depth(ltpc[0])
                out.append(
                    encoder.entry_full(key, ltpc, s.vtt[j], s.atp[j], depth, s.i1[j], s.d1[j])
                )
            else:
                out.append(encoder.entry_parts(key, ltpc, None))
    return out


def _parsed(entries: list[bytes], ts: int) -> pb.FeedResponse:
    return pb.FeedResponse.FromString(frame_from_entries(FrameKind.LIVE_FEED, ts, entries))


def _check(tape: Tape) -> None:
    for full in (True, False):
        encoded = EncodedEntries.build(tape, full)
        assert len(encoded.offsets) == len(tape) + 1
        reference = _reference(tape, full)
        for i, want in enumerate(reference):
            got = encoded.entry(i)
            ts = int(tape.ltt[i])
            assert _parsed([got], ts) == _parsed([want], ts), (i, full)
            # upb writes fields in number order and leaves zeros out: so does the pre-encoder.
            assert got == want, (i, full)
        # Many entries to a frame, as sent: the same message, field by field.
        for lo in range(0, len(tape), 997):
            hi = min(len(tape), lo + 997)
            got_frame = _parsed([encoded.entry(i) for i in range(lo, hi)], 5)
            want_frame = _parsed(reference[lo:hi], 5)
            assert MessageToDict(got_frame) == MessageToDict(want_frame)


def test_sample_tape_entries_equal_the_encoder_s() -> None:
    tape = sample_tape()
    assert len(tape) > 10_000
    _check(tape)


def test_batches_across_blocks_hold_the_same_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entries_module, "_BLOCK", 1000)
    tape = sample_tape()
    market = Market(tape)
    for full in (True, False):
        encoded = market.entries(full)
        assert len(encoded.blocks) > 3
        for lo, hi in ((0, 1), (990, 1010), (999, 3001), (len(tape) - 5, len(tape))):
            batch = market.batch(lo, hi)
            every = np.arange(hi - lo)
            assert batch.entries(every, full) == [encoded.entry(i) for i in range(lo, hi)]
            assert [batch.entry(j, full) for j in every.tolist()] == batch.entries(every, full)


def _edge_tape() -> Tape:
    """Ticks with unknown/zero close prices, unknown vtt, no book, odd and big values."""
    rng = np.random.default_rng(11)
    n = 3000
    ltp = np.round(rng.choice([0.05, 0.2, 0.25, 0.26, 0.3, 1.0, 99.95, 2500.5], n), 2)
    ltp[::17] = 0.0
    ltp[5::101] = -0.0
    ltp[7::113] = math.nan
    ltp[9::127] = -3.5
    ltp[11::131] = 1e9 + 0.05
    close = rng.choice([0.0, math.nan, 100.0, 0.25], n)
    vtt = np.where(rng.random(n) < 0.3, -1, np.cumsum(rng.integers(0, 5000, n)))
    vtt[::7] = 0
    ltq = rng.integers(0, 1 << 40, n)
    ltq[::5] = 0
    ltq[3::11] = -7  # int64 negatives: ten-byte varints
    return Tape(
        KEYS,
        rng.integers(0, len(KEYS), n).astype(np.int32),
        ltt=T0_FULL_DAY + np.sort(rng.integers(0, 6 * 3600 * 1000, n)),
        ltp=ltp,
        ltq=ltq,
        vtt=vtt,
        close_price=close,
    )


def test_edge_case_entries_equal_the_encoder_s() -> None:
    tape = _edge_tape()
    assert (tape.sent_close_price == 0).any() and (tape.vtt < 0).any()
    assert any(tape.depth(p) == () for p in tape.ltp.tolist())
    _check(tape)


def test_replayed_tape_entries_equal_the_encoder_s(tmp_path: Path) -> None:
    edge = _edge_tape()
    frame = pd.DataFrame(
        {
            "symbol": [edge.symbols[k] for k in edge.key_index.tolist()],
            "ltt": edge.ltt,
            "ltp": edge.ltp,
            "ltq": edge.ltq,
            "vtt": pd.array(np.where(edge.vtt < 0, None, edge.vtt).tolist(), dtype="Int64"),
            "seq": np.arange(len(edge)),
        }
    )
    path = tmp_path / "ticks.parquet"
    frame.to_parquet(path)
    tape = replay_tape(path)
    assert len(tape) == len(edge)
    _check(tape)


def test_empty_book_has_no_market_level_whatever_came_before() -> None:
    encoder = EntryEncoder()
    zero = (0.0, 0.0, 0.0, 0.0, 0, 0)
    fresh = encoder.entry_full("K", (0.2, 5, 1, 0.0), 0, 0.2, (), zero, zero)
    encoder.entry_full("K", (100.0, 5, 1, 0.0), 3, 100.0, ((1, 99.95, 2, 100.05),), zero, zero)
    again = encoder.entry_full("K", (0.2, 5, 1, 0.0), 0, 0.2, (), zero, zero)
    assert again == fresh
    assert not _parsed([again], 1).feeds["K"].fullFeed.marketFF.HasField("marketLevel")


def test_altered_entries_are_the_entries_with_the_override() -> None:
    tape = _edge_tape()
    market = Market(tape)
    batch = market.batch(100, 200)
    for j in range(len(batch)):
        for full in (True, False):
            same = batch.altered_entry(j, full, None, None)
            assert _parsed([same], 1) == _parsed([batch.entry(j, full)], 1)
            moved = decode_frame(frame_from_entries(FrameKind.LIVE_FEED, 1, [batch.entry(j, full)]))
            bad = decode_frame(
                frame_from_entries(
                    FrameKind.LIVE_FEED, 1, [batch.altered_entry(j, full, "U", -1.0)]
                )
            )
            assert bad.quotes[0].key == "U" and bad.quotes[0].ltp == -1.0
            assert bad.quotes[0].ltt_ms == moved.quotes[0].ltt_ms
            assert bad.quotes[0].depth == moved.quotes[0].depth


# ---------------------------------------------------------------- packing


def _old_tick_frames(subs: dict[str, bool], batch: Batch) -> list[TickFrame]:
    """The per-tick packing loop ``Client.tick_frames`` had (the reference)."""
    keys = [batch.tape.symbols[k] for k in batch.key_index.tolist()]
    ltt = batch.ltt.tolist()
    frames: list[TickFrame] = []
    base = 0
    window_end = -1
    last: dict[str, int] = {}
    for j, key in enumerate(keys):
        full = subs.get(key)
        if full is None:
            continue
        ts = ltt[j]
        if ts > window_end:
            base, window_end = len(frames), ts + FRAME_SPAN_MS
            last = {}
        i = last.get(key, base - 1) + 1
        if i == len(frames):
            frames.append(TickFrame(ts))
        frame = frames[i]
        frame.entries.append(batch.entry(j, full))
        frame.ticks.append(j)
        frame.full.append(full)
        if ts > frame.ts:
            frame.ts = ts
        last[key] = i
    newest = 0
    for frame in frames:
        if frame.ts < newest:
            frame.ts = newest
        newest = frame.ts
    return frames


@pytest.mark.parametrize("seed", range(8))
def test_packing_is_the_per_tick_loop_s(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    spread = int(rng.choice([10, 3 * FRAME_SPAN_MS, 200 * FRAME_SPAN_MS]))
    tape = Tape(
        KEYS,
        rng.integers(0, len(KEYS), n).astype(np.int32),
        ltt=T0_FULL_DAY + np.sort(rng.integers(0, spread, n)),
        ltp=np.round(100 + rng.random(n), 2),
        ltq=rng.integers(1, 50, n),
        vtt=np.full(n, -1),
        close_price=np.full(n, 100.0),
    )
    market = Market(tape)
    batch = market.batch(0, len(tape))
    choices = [{}, {KEYS[0]: True}, {k: bool(rng.random() < 0.5) for k in KEYS[:3]}]
    choices.append({k: True for k in KEYS} | {"NSE_EQ|INE999Z01010": False})
    for subs in choices:
        client = Client.__new__(Client)
        client.subs = subs
        client.faults = FaultInjector(FaultConfig(), {})
        got = client.tick_frames(batch)
        want = _old_tick_frames(subs, batch)
        assert [(f.ts, f.entries, f.ticks, f.full) for f in got] == [
            (f.ts, f.entries, f.ticks, f.full) for f in want
        ]
