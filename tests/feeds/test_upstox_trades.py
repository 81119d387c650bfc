"""``decode_trades`` says what ``decode_frame`` says about every entry's trade, bytes good or bad.

Except where a frame's only fault lies inside a field ``decode_trades`` does not parse (the
depth, the candles, the greeks): it then reads the trades, and they are those of the same
frame with those fields cut out.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.internal.encoder import _VarintBytes
from hypothesis import example, given, settings
from hypothesis import strategies as st
from upstox_client.feeder.proto import MarketDataFeedV3_pb2 as pb

from pixity.feeds import upstox_trades
from pixity.feeds.upstox_trades import TRADES_SCHEMA, decode_trades
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


def outcome(decode: Any, raw: Any, *, by_key: bool = False) -> str:
    """Return what a decoder makes of ``raw``, as a comparable string (repr tells -0.0, NaN);
    ``by_key``: its entries sorted by key."""
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
    if by_key:
        entries.sort(key=lambda entry: entry[0])
    return repr((frame.kind, frame.current_ts_ms, entries, frame.segment_status))


def assert_agree(raw: Any) -> None:
    trades, full = outcome(decode_trades, raw), outcome(decode_frame, raw)
    if full != "malformed" or trades == "malformed":
        assert trades == full
        return
    # Only decode_trades takes it: the fault is inside a field it skips. Cut those out.
    message = TRADES_SCHEMA.FromString(bytes(raw))
    message.DiscardUnknownFields()
    # Re-encoded, the map's entries may come back in another order (a hash table's, filled
    # in another order): keys are unique in a map, so compare them by key.
    cut = message.SerializeToString()
    assert outcome(decode_trades, raw, by_key=True) == outcome(decode_frame, cut, by_key=True)


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


def _field(message: Any, name: str, payload: bytes) -> bytes:
    """Return ``payload`` as the length-delimited field ``name`` of ``message``."""
    number = message.DESCRIPTOR.fields_by_name[name].number
    return _VarintBytes(number << 3 | 2) + _VarintBytes(len(payload)) + payload


def test_a_fault_inside_the_depth_loses_the_frame_to_decode_frame_not_its_trade() -> None:
    market = pb.MarketFullFeed(ltpc=pb.LTPC(ltp=101.5, ltt=7, ltq=3), vtt=9).SerializeToString()
    market += _field(pb.MarketFullFeed, "marketLevel", b"\x0f")  # wire type 7: no such thing
    feed = _field(pb.Feed, "fullFeed", _field(pb.FullFeed, "marketFF", market))
    entry = _field(pb.FeedResponse.FeedsEntry, "key", b"K") + _field(
        pb.FeedResponse.FeedsEntry, "value", feed
    )
    raw = pb.FeedResponse(type=pb.live_feed, currentTs=42).SerializeToString()
    raw += _field(pb.FeedResponse, "feeds", entry)
    assert outcome(decode_frame, raw) == "malformed"
    assert decode_trades(raw).entries == (("K", 101.5, 7, 3, 9),)
    assert_agree(raw)
    # A fault in the trade's own fields is refused by both.
    bad = raw.replace(pb.LTPC(ltp=101.5, ltt=7, ltq=3).SerializeToString()[:1], b"\x0f", 1)
    assert outcome(decode_trades, bad) == outcome(decode_frame, bad) == "malformed"


def test_the_trades_schema_leaves_out_only_what_carries_no_trade() -> None:
    def names(schema: Any) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        todo = [schema.DESCRIPTOR]
        while todo:
            message = todo.pop()
            if message.full_name in out:
                continue
            out[message.full_name] = {f.name for f in message.fields}
            todo.extend(f.message_type for f in message.fields if f.message_type is not None)
        return out

    official, trimmed = names(pb.FeedResponse), names(TRADES_SCHEMA)
    read = {"MarketFullFeed": {"ltpc", "vtt"}, "IndexFullFeed": {"ltpc"}, "FirstLevelWithGreeks": {"ltpc", "vtt"}}  # fmt: skip
    prefix = pb.FeedResponse.DESCRIPTOR.full_name.rsplit(".", 1)[0] + "."
    assert {prefix + name for name in read} <= set(trimmed)
    for message, fields in trimmed.items():  # the trades' messages keep what is read, all else all
        assert fields == read.get(message.removeprefix(prefix), official[message]), message
    # What is left out is depth, candles, greeks and the like: none of them holds a trade.
    assert "marketLevel" in official[prefix + "MarketFullFeed"] - trimmed[prefix + "MarketFullFeed"]
    for message in set(official) - set(trimmed):  # reachable only through what is left out
        assert "ltpc" not in official[message] and "vtt" not in official[message], message


def test_an_sdk_without_a_field_the_trades_are_read_from_fails_at_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Said once, naming the message and the field, not as a wrong decode at every frame."""
    monkeypatch.setitem(upstox_trades._READ, "MarketFullFeed", ("ltpc", "vtt", "lastTrade"))
    with pytest.raises(ImportError, match=r"MarketFullFeed has no \['lastTrade'\]"):
        upstox_trades._trades_schema()
