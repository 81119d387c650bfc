"""Decoding gives the very objects the constructors give (the decoder builds them its own way)."""

from __future__ import annotations

import pytest
from upstox_client.feeder.proto import MarketDataFeedV3_pb2 as pb

from pixity.feeds.upstox_wire import Candle, FrameKind, Mode, Quote, decode_frame, encode_frame

KEY = "NSE_EQ|INE155A01022"
I1 = Candle(interval="I1", open=1.5, high=2.0, low=1.0, close=1.75, volume=10, ts_ms=1_000)
D1 = Candle(interval="1d", open=1.0, high=2.5, low=0.5, close=1.75, volume=900, ts_ms=2_000)
FULL = Quote(
    key=KEY,
    ltp=101.5,
    ltt_ms=1_748_835_900_123,
    ltq=7,
    close_price=100.0,
    vtt=1_234,
    atp=101.25,
    depth=((10, 101.45, 12, 101.5), (20, 101.4, 22, 101.55)),
    candles=(I1, D1),
)


@pytest.mark.parametrize(
    ("sent", "mode", "expected"),
    [
        (FULL, Mode.FULL, FULL),
        (
            Quote(key=KEY, ltp=99.0, ltt_ms=5, ltq=1, close_price=98.0),
            Mode.FULL,
            Quote(key=KEY, ltp=99.0, ltt_ms=5, ltq=1, close_price=98.0, vtt=0, atp=0.0),
        ),
        (
            FULL,
            Mode.LTPC,
            Quote(key=KEY, ltp=101.5, ltt_ms=1_748_835_900_123, ltq=7, close_price=100.0),
        ),
    ],
    ids=["full", "full-no-book", "ltpc"],
)
def test_decoded_quote_equals_constructed(sent: Quote, mode: Mode, expected: Quote) -> None:
    raw = encode_frame(FrameKind.LIVE_FEED, 42, [sent], mode)
    (got,) = decode_frame(raw).quotes
    assert got == expected and hash(got) == hash(expected) and repr(got) == repr(expected)
    assert all(type(c) is Candle for c in got.candles)


def test_full_entry_without_ltpc_has_no_trade() -> None:
    message = pb.FeedResponse(type=pb.live_feed, currentTs=42)
    message.feeds[KEY].fullFeed.marketFF.vtt = 5
    (got,) = decode_frame(message.SerializeToString()).quotes
    assert got == Quote(key=KEY, ltp=None, ltt_ms=None, ltq=None, close_price=None, vtt=5, atp=0.0)
