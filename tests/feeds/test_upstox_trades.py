"""``decode_trades`` says what ``decode_frame`` says about every entry's trade, bytes good or bad."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from upstox_client.feeder.proto import MarketDataFeedV3_pb2 as pb

from pixity.feeds.upstox_trades import decode_trades
from pixity.feeds.upstox_wire import (
    Candle,
    FrameKind,
    MalformedFrameError,
    Mode,
    Quote,
    decode_frame,
    encode_frame,
    encode_market_info,
)

INT64 = st.integers(-(2**63), 2**63 - 1)
# Zeros, negative zero, NaN and infinities are where "is there a trade" could be misread.
PRICES = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 1.0])
SMALL = st.integers(-3, 3) | INT64
KEYS = st.sampled_from(["NSE_EQ|INE155A01022", "NSE_INDEX|Nifty 50", "NSE_FO|45450", ""]) | st.text(
    max_size=12
)


def outcome(decode: Any, raw: Any) -> str:
    """Return what a decoder makes of ``raw``, as a comparable string (repr tells -0.0, NaN)."""
    try:
        frame = decode(raw)
    except MalformedFrameError:
        return "malformed"
    except Exception as exc:  # noqa: BLE001 - a crash must be the same crash on both sides
        return f"crash {type(exc).__name__}"
    if hasattr(frame, "quotes"):
        entries = [(q.key, q.ltp, q.ltt_ms, q.ltq, q.vtt) for q in frame.quotes]
    else:
        entries = list(frame.entries)
    return repr((frame.kind, frame.current_ts_ms, entries, frame.segment_status))


def assert_agree(raw: Any) -> None:
    assert outcome(decode_trades, raw) == outcome(decode_frame, raw)


candles = st.builds(
    Candle,
    interval=st.sampled_from(["I1", "1d"]),
    open=PRICES,
    high=PRICES,
    low=PRICES,
    close=PRICES,
    volume=INT64,
    ts_ms=INT64,
)
quotes = st.builds(
    Quote,
    key=KEYS,
    ltp=st.none() | PRICES,
    ltt_ms=st.none() | SMALL,
    ltq=st.none() | SMALL,
    close_price=st.none() | PRICES,
    vtt=st.none() | SMALL,
    atp=st.none() | PRICES,
    depth=st.lists(st.tuples(INT64, PRICES, INT64, PRICES), max_size=5).map(tuple),
    candles=st.lists(candles, max_size=2).map(tuple),
)
kinds = st.sampled_from(list(FrameKind))
modes = st.sampled_from([Mode.LTPC, Mode.FULL])


def _ltpc(target: Any, draw: Any) -> None:
    target.ltp, target.ltt, target.ltq, target.cp = draw
    target.SetInParent()  # present even when every field is zero


ltpc_values = st.tuples(PRICES, SMALL, SMALL, PRICES)


@st.composite
def raw_feeds(draw: Any) -> bytes:
    """A ``FeedResponse`` of every kind of entry, mixed (``encode_frame`` makes only two)."""
    message = pb.FeedResponse(type=draw(st.integers(0, 2)), currentTs=draw(SMALL))
    for key in draw(st.lists(KEYS, max_size=6)):
        feed = message.feeds[key]
        member = draw(st.sampled_from(["ltpc", "market", "index", "greeks", "none", "empty"]))
        values = draw(st.none() | ltpc_values)
        if member == "ltpc" and values is not None:
            _ltpc(feed.ltpc, values)
        elif member == "market":
            market = feed.fullFeed.marketFF
            market.SetInParent()
            market.vtt = draw(SMALL)
            if values is not None:
                _ltpc(market.ltpc, values)
            if draw(st.booleans()):
                market.marketLevel.bidAskQuote.add(bidQ=1, bidP=2.0, askQ=3, askP=4.0)
                market.marketOHLC.ohlc.add(interval="I1", open=1.0, vol=2, ts=3)
        elif member == "index":
            index = feed.fullFeed.indexFF
            index.SetInParent()
            if values is not None:
                _ltpc(index.ltpc, values)
            if draw(st.booleans()):
                index.marketOHLC.ohlc.add(interval="1d", close=5.0)
        elif member == "greeks":
            greeks = feed.firstLevelWithGreeks
            greeks.SetInParent()
            greeks.vtt = draw(SMALL)
            if values is not None:
                _ltpc(greeks.ltpc, values)
        elif member == "empty":
            feed.requestMode = pb.full_d5
    if draw(st.booleans()):
        for segment in draw(st.lists(st.text(max_size=8), max_size=3)):
            message.marketInfo.segmentStatus[segment] = draw(st.integers(0, 8))
    return bytes(message.SerializeToString())


@st.composite
def encoded(draw: Any) -> bytes:
    return encode_frame(draw(kinds), draw(SMALL), draw(st.lists(quotes, max_size=6)), draw(modes))


frames = encoded() | raw_feeds()


@given(frames)
@settings(max_examples=300)
def test_agrees_with_decode_frame_on_valid_frames(raw: bytes) -> None:
    assert_agree(raw)


@given(st.lists(st.tuples(quotes, modes), min_size=1, max_size=8), SMALL)
def test_agrees_when_the_modes_of_entries_alternate(
    sent: list[tuple[Quote, Mode]], ts: int
) -> None:
    """Entries are read by guessing the mode from the entry before: a wrong guess must not show."""
    raw = b"".join(encode_frame(FrameKind.LIVE_FEED, ts, [q], mode) for q, mode in sent)
    assert_agree(raw)


@given(frames, st.data())
@settings(max_examples=400)
def test_agrees_on_truncated_and_mutated_bytes(raw: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(raw)))
    assert_agree(raw[:cut])
    if raw:
        at = data.draw(st.integers(0, len(raw) - 1))
        byte = data.draw(st.integers(0, 255))
        assert_agree(raw[:at] + bytes([byte]) + raw[at + 1 :])
        insert = data.draw(st.binary(min_size=1, max_size=4))
        assert_agree(raw[:at] + insert + raw[at:])


@given(st.binary(max_size=64))
@example(b"\x08\x99\x99garbage")
@example(b"\x08\x07")  # an unknown FeedResponse type
@example(b"\x12\x03\x0a\x01\xff")  # a map key that is not UTF-8
def test_agrees_on_garbage(raw: bytes) -> None:
    assert_agree(raw)
    assert_agree(bytearray(raw))
    assert_agree(memoryview(raw))


def test_agrees_on_market_info_and_non_bytes() -> None:
    assert_agree(encode_market_info(42, {"NSE_EQ": "NORMAL_OPEN", "NSE_FO": "CLOSING_END"}))
    assert_agree("not bytes")
    assert_agree(None)


def test_entries_are_plain_values() -> None:
    quote = Quote(key="K", ltp=101.5, ltt_ms=7, ltq=3, close_price=100.0, vtt=9, atp=101.0)
    frame = decode_trades(encode_frame(FrameKind.LIVE_FEED, 42, [quote], Mode.FULL))
    assert frame.kind is FrameKind.LIVE_FEED and frame.current_ts_ms == 42
    assert frame.entries == (("K", 101.5, 7, 3, 9),)
    frame = decode_trades(encode_frame(FrameKind.LIVE_FEED, 42, [quote], Mode.LTPC))
    assert frame.entries == (("K", 101.5, 7, 3, None),)
