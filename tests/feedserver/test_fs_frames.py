"""How the local exchange packs due ticks into frames: many keys per frame, nothing reordered."""

from __future__ import annotations

import numpy as np
import pytest

from pixity.feeds.upstox_wire import FrameKind, decode_frame, frame_from_entries
from pixity.feedserver.client import FRAME_SPAN_MS, Client
from pixity.feedserver.faults import FaultConfig, FaultInjector
from pixity.feedserver.market import Market
from pixity.feedserver.tape import Tape

KEYS = tuple(f"NSE_EQ|INE{i:03d}A01010" for i in range(8))
T0 = 1_748_835_900_000  # 2025-06-02 09:15 IST


def _tape(seed: int, n: int) -> Tape:
    rng = np.random.default_rng(seed)
    ltt = T0 + np.sort(rng.integers(0, 20 * FRAME_SPAN_MS, n))
    return Tape(
        KEYS,
        rng.integers(0, len(KEYS), n).astype(np.int32),
        ltt=ltt,
        ltp=np.round(100 + rng.random(n), 2),
        ltq=rng.integers(1, 50, n),
        vtt=np.full(n, -1),
        close_price=np.full(n, 100.0),
    )


def _client(subs: dict[str, bool]) -> Client:
    client = Client.__new__(Client)  # no connection: only the packing is under test
    client.subs = subs
    client.faults = FaultInjector(FaultConfig(), {})
    return client


@pytest.mark.parametrize("seed", range(5))
def test_frames_hold_every_tick_once_in_key_order_within_the_span(seed: int) -> None:
    tape = _tape(seed, 400)
    batch, _ = Market(tape).take(int(tape.ltt[-1]), 10_000)
    assert batch is not None
    subs = {k: i % 2 == 0 for i, k in enumerate(KEYS[:-1])}  # the last key not subscribed
    frames = _client(subs).tick_frames(batch)
    decoded = [
        decode_frame(frame_from_entries(FrameKind.LIVE_FEED, f.ts, f.entries)) for f in frames
    ]
    sent = [(q.key, q.ltt_ms, q.ltp) for f in decoded for q in f.quotes]
    due = [
        (KEYS[k], int(t), float(p))
        for k, t, p in zip(tape.key_index, tape.ltt, tape.ltp, strict=True)
        if KEYS[k] in subs
    ]
    assert sorted(sent) == sorted(due)  # every subscribed tick exactly once
    for key in subs:  # each key's ticks in tape order
        assert [s for s in sent if s[0] == key] == [d for d in due if d[0] == key]
    newest = 0
    for frame in decoded:
        keys = [q.key for q in frame.quotes]
        assert len(keys) == len(set(keys))
        assert frame.current_ts_ms >= newest  # the clock never goes back
        newest = frame.current_ts_ms
        # No tick is more than the span older than a time already sent.
        assert all(
            q.ltt_ms is not None and q.ltt_ms >= newest - FRAME_SPAN_MS for q in frame.quotes
        )
        assert all(q.ltt_ms is not None and q.ltt_ms <= newest for q in frame.quotes)
    assert len(frames) < len(sent) / 2  # packed: many keys a frame
