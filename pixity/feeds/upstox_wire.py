"""The Upstox Market Data Feed V3 wire format: protobuf ``FeedResponse`` frames and JSON requests.

Both sides of the wire use this module: the adapter (``pixity.feeds.upstox``) decodes what the
server sends, and the local exchange (``pixity.feedserver``) encodes it, so the two cannot
drift apart. The schema is Upstox's own, from ``upstox-python-sdk`` (``MarketDataFeedV3_pb2``).

Requests are UTF-8 JSON ``{"guid", "method", "data": {"mode", "instrumentKeys"}}`` sent as
*binary* websocket frames. Responses are ``FeedResponse`` messages: first ``market_info``, then
an ``initial_feed`` snapshot, then ``live_feed`` updates.

Past this module there are only plain values (``Quote``); turning them into validated
domain ``Tick``s is the ingest's job.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum

from google.protobuf.internal import wire_format
from google.protobuf.message import DecodeError
from upstox_client.feeder.proto import MarketDataFeedV3_pb2 as pb

from pixity.errors import InvalidValueError

MAX_KEYS_PER_REQUEST = 5000  # guard against a request that would flood the server
# The largest ``currentTs`` that is a time: 9999-12-30 UTC, a day short of the end of
# ``datetime``, so the feed clock's date arithmetic (IST, the next day) cannot overflow. A
# larger (or negative) stamp would poison the ingest's clock: every later frame would fail.
MAX_TS_MS = 253_402_128_000_000


class MalformedFrameError(InvalidValueError):
    """A frame that is not a well-formed message of the protocol."""


class FrameKind(StrEnum):
    """``FeedResponse.type``."""

    INITIAL_FEED = "initial_feed"
    LIVE_FEED = "live_feed"
    MARKET_INFO = "market_info"


class Mode(StrEnum):
    """Subscription modes a client may ask for."""

    LTPC = "ltpc"
    FULL = "full"
    OPTION_GREEKS = "option_greeks"
    FULL_D30 = "full_d30"


class Method(StrEnum):
    """Request methods."""

    SUB = "sub"
    CHANGE_MODE = "change_mode"
    UNSUB = "unsub"


@dataclass(frozen=True, slots=True, kw_only=True)
class Candle:
    """One ``marketOHLC`` entry (``interval`` is e.g. ``I1`` or ``1d``)."""

    interval: str
    open: float
    high: float
    low: float
    close: float
    volume: int
    ts_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """One instrument's entry of a frame, as plain values (wire names, not yet validated).

    ``ltp``/``ltt_ms``/``ltq`` are None when the entry carries no ``ltpc`` (then there is no
    trade in it and the last price stands). ``vtt``/``atp`` come only in full mode.
    """

    key: str
    ltp: float | None
    ltt_ms: int | None
    ltq: int | None
    close_price: float | None
    vtt: int | None = None
    atp: float | None = None
    depth: tuple[tuple[int, float, int, float], ...] = ()  # (bidQ, bidP, askQ, askP)
    candles: tuple[Candle, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """A decoded ``FeedResponse``."""

    kind: FrameKind
    current_ts_ms: int
    quotes: tuple[Quote, ...] = ()
    segment_status: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """A parsed client request."""

    guid: str
    method: Method
    mode: Mode | None
    keys: tuple[str, ...]


# ---------------------------------------------------------------- requests


def build_request(method: Method, keys: Sequence[str], mode: Mode | None = None) -> bytes:
    """Return a request as the UTF-8 JSON bytes to send in a binary frame."""
    data: dict[str, object] = {"instrumentKeys": list(keys)}
    if mode is not None:
        data["mode"] = mode.value
    body = {"guid": uuid.uuid4().hex, "method": method.value, "data": data}
    return json.dumps(body).encode()


def parse_request(raw: bytes | str) -> Request:
    """Parse a client request; raise ``MalformedFrameError`` saying what is wrong."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedFrameError(f"request is not UTF-8 JSON: {exc}") from None
    if not isinstance(body, dict):
        raise MalformedFrameError("request must be a JSON object")
    data = body.get("data")
    if not isinstance(data, dict):
        raise MalformedFrameError("request has no 'data' object")
    try:
        method = Method(str(body.get("method")))
    except ValueError:
        raise MalformedFrameError(f"unknown method {body.get('method')!r}") from None
    mode = None
    if "mode" in data:
        try:
            mode = Mode(data["mode"])
        except ValueError:
            raise MalformedFrameError(f"unknown mode {data['mode']!r}") from None
    keys = data.get("instrumentKeys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise MalformedFrameError("'instrumentKeys' must be a list of strings")
    if len(keys) > MAX_KEYS_PER_REQUEST:
        raise MalformedFrameError(
            f"{len(keys)} keys in one request; at most {MAX_KEYS_PER_REQUEST}"
        )
    guid = body.get("guid")
    return Request(guid=str(guid or ""), method=method, mode=mode, keys=tuple(keys))


# ---------------------------------------------------------------- frames: decode


_KIND = {
    pb.initial_feed: FrameKind.INITIAL_FEED,
    pb.live_feed: FrameKind.LIVE_FEED,
    pb.market_info: FrameKind.MARKET_INFO,
}


_STATUS_VALUES = frozenset(pb.MarketStatus.values())


def parse_response(
    raw: bytes, schema: type[pb.FeedResponse] = pb.FeedResponse
) -> tuple[pb.FeedResponse, FrameKind, dict[str, str]]:
    """Parse one ``FeedResponse``: the message, its kind and its segment statuses.

    Raise ``MalformedFrameError`` for anything that is not one. ``decode_frame`` and
    ``upstox_trades.decode_trades`` both start here; ``schema`` is the message class, Upstox's
    own or ``decode_trades``'s copy of it that leaves out what carries no trade.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MalformedFrameError(f"a feed frame is binary, got {type(raw).__name__}")
    message = schema()
    try:
        message.ParseFromString(bytes(raw))
    except (DecodeError, RuntimeError) as exc:
        raise MalformedFrameError(f"not a FeedResponse ({len(raw)} bytes): {exc}") from None
    kind = _KIND.get(message.type)
    if kind is None:
        raise MalformedFrameError(f"unknown FeedResponse type {message.type}")
    check_current_ts(message.currentTs)
    status = {}
    if message.HasField("marketInfo"):  # absent from live and initial feeds: nothing to read
        status = {
            key: pb.MarketStatus.Name(value)
            for key, value in message.marketInfo.segmentStatus.items()
            if value in _STATUS_VALUES
        }
    return message, kind, status


def decode_frame(raw: bytes) -> Frame:
    """Decode one ``FeedResponse``; raise ``MalformedFrameError`` for anything else."""
    message, kind, status = parse_response(raw)
    quotes = tuple([_quote(key, feed) for key, feed in message.feeds.items()])
    return Frame(kind=kind, current_ts_ms=message.currentTs, quotes=quotes, segment_status=status)


def check_current_ts(current_ts_ms: int) -> None:
    """Raise ``MalformedFrameError`` unless ``current_ts_ms`` is epoch ms in 0 .. ``MAX_TS_MS``."""
    if not 0 <= current_ts_ms <= MAX_TS_MS:
        raise MalformedFrameError(f"currentTs {current_ts_ms} is not a time (0 .. {MAX_TS_MS} ms)")


# This runs per instrument per frame: each entry builds exactly one ``Quote``, full mode first.
def _quote(key: str, feed: pb.Feed) -> Quote:
    union = feed.WhichOneof("FeedUnion")
    if union == "fullFeed":
        full = feed.fullFeed
        if full.WhichOneof("FullFeedUnion") == "indexFF":
            index = full.indexFF
            ltp, ltt, ltq, cp = _ltpc(index.ltpc if index.HasField("ltpc") else None)
            return Quote(
                key=key,
                ltp=ltp,
                ltt_ms=ltt,
                ltq=ltq,
                close_price=cp,
                candles=_candles(index.marketOHLC.ohlc),
            )
        market = full.marketFF
        ltp, ltt, ltq, cp = _ltpc(market.ltpc if market.HasField("ltpc") else None)
        book = market.marketLevel.bidAskQuote
        return _new_quote(
            key,
            ltp,
            ltt,
            ltq,
            cp,
            market.vtt,
            market.atp,
            tuple([(q.bidQ, q.bidP, q.askQ, q.askP) for q in book]) if book else (),
            _candles(market.marketOHLC.ohlc),
        )
    if union == "ltpc":
        ltp, ltt, ltq, cp = _ltpc(feed.ltpc if feed.HasField("ltpc") else None)
        return Quote(key=key, ltp=ltp, ltt_ms=ltt, ltq=ltq, close_price=cp)
    if union == "firstLevelWithGreeks":
        greeks = feed.firstLevelWithGreeks
        ltp, ltt, ltq, cp = _ltpc(greeks.ltpc if greeks.HasField("ltpc") else None)
        return Quote(key=key, ltp=ltp, ltt_ms=ltt, ltq=ltq, close_price=cp, vtt=greeks.vtt)
    return Quote(key=key, ltp=None, ltt_ms=None, ltq=None, close_price=None)


_NO_LTPC: tuple[None, None, None, None] = (None, None, None, None)


def _ltpc(ltpc: pb.LTPC | None) -> tuple[float, int, int, float] | tuple[None, None, None, None]:
    """Return ``ltp, ltt, ltq, cp``, all None when the entry carries no ``ltpc``."""
    if ltpc is None:
        return _NO_LTPC
    return ltpc.ltp, ltpc.ltt, ltpc.ltq, ltpc.cp


def _candles(ohlc: Sequence[pb.OHLC]) -> tuple[Candle, ...]:
    if not ohlc:
        return ()
    return tuple(
        [_new_candle(c.interval, c.open, c.high, c.low, c.close, c.vol, c.ts) for c in ohlc]
    )


# Building the decoded objects. A frozen dataclass's ``__init__`` sets each field through
# ``object.__setattr__``, which costs as much as the rest of decoding a full-mode entry; these
# build the very same objects (all fields set, equal, same hash) through the slots' own
# descriptors. They take every field in declaration order, which is checked at import.

_Setter = Callable[[object, object], None]


def _slot_setters(cls: type, names: tuple[str, ...]) -> tuple[_Setter, ...]:
    declared = tuple(f.name for f in fields(cls))
    if declared != names or hasattr(cls, "__post_init__"):
        raise RuntimeError(f"{cls.__name__} is now {declared}: update its builder in {__name__}")
    return tuple(getattr(cls, name).__set__ for name in names)


_QUOTE_SETTERS = _slot_setters(
    Quote, ("key", "ltp", "ltt_ms", "ltq", "close_price", "vtt", "atp", "depth", "candles")
)
_CANDLE_SETTERS = _slot_setters(
    Candle, ("interval", "open", "high", "low", "close", "volume", "ts_ms")
)


def _new_quote(
    key: str,
    ltp: float | None,
    ltt_ms: int | None,
    ltq: int | None,
    close_price: float | None,
    vtt: int | None,
    atp: float | None,
    depth: tuple[tuple[int, float, int, float], ...],
    candles: tuple[Candle, ...],
) -> Quote:
    quote = object.__new__(Quote)
    s_key, s_ltp, s_ltt, s_ltq, s_cp, s_vtt, s_atp, s_depth, s_candles = _QUOTE_SETTERS
    s_key(quote, key)
    s_ltp(quote, ltp)
    s_ltt(quote, ltt_ms)
    s_ltq(quote, ltq)
    s_cp(quote, close_price)
    s_vtt(quote, vtt)
    s_atp(quote, atp)
    s_depth(quote, depth)
    s_candles(quote, candles)
    return quote


def _new_candle(
    interval: str, open_: float, high: float, low: float, close: float, volume: int, ts_ms: int
) -> Candle:
    candle = object.__new__(Candle)
    s_interval, s_open, s_high, s_low, s_close, s_volume, s_ts = _CANDLE_SETTERS
    s_interval(candle, interval)
    s_open(candle, open_)
    s_high(candle, high)
    s_low(candle, low)
    s_close(candle, close)
    s_volume(candle, volume)
    s_ts(candle, ts_ms)
    return candle


# ---------------------------------------------------------------- frames: encode


def encode_frame(kind: FrameKind, current_ts_ms: int, quotes: Iterable[Quote], mode: Mode) -> bytes:
    """Return a ``FeedResponse`` carrying ``quotes`` in ``mode`` (``ltpc`` or ``full``)."""
    message = pb.FeedResponse()
    message.type = {v: k for k, v in _KIND.items()}[kind]
    message.currentTs = current_ts_ms
    for quote in quotes:
        feed = message.feeds[quote.key]
        if mode is Mode.LTPC:
            _fill_ltpc(feed.ltpc, quote)
            feed.requestMode = pb.ltpc
            continue
        market = feed.fullFeed.marketFF
        _fill_ltpc(market.ltpc, quote)
        for bid_q, bid_p, ask_q, ask_p in quote.depth:
            market.marketLevel.bidAskQuote.add(bidQ=bid_q, bidP=bid_p, askQ=ask_q, askP=ask_p)
        for candle in quote.candles:
            market.marketOHLC.ohlc.add(
                interval=candle.interval,
                open=candle.open,
                high=candle.high,
                low=candle.low,
                close=candle.close,
                vol=candle.volume,
                ts=candle.ts_ms,
            )
        if quote.atp is not None:
            market.atp = quote.atp
        if quote.vtt is not None:
            market.vtt = quote.vtt
        feed.requestMode = pb.full_d5
    return bytes(message.SerializeToString())


def encode_market_info(current_ts_ms: int, segment_status: dict[str, str]) -> bytes:
    """Return a ``market_info`` ``FeedResponse`` with each segment's status name."""
    message = pb.FeedResponse()
    message.type = pb.market_info
    message.currentTs = current_ts_ms
    for segment, status in segment_status.items():
        message.marketInfo.segmentStatus[segment] = pb.MarketStatus.Value(status)
    return bytes(message.SerializeToString())


def _fill_ltpc(ltpc: pb.LTPC, quote: Quote) -> None:
    if quote.ltp is None or quote.ltt_ms is None:
        return
    ltpc.ltp = quote.ltp  # not checked: the local exchange sends bad prices on purpose
    ltpc.ltt = quote.ltt_ms
    ltpc.ltq = quote.ltq or 0
    if quote.close_price is not None:
        ltpc.cp = quote.close_price


# ---------------------------------------------------------------- frames: fast encode


# Plain-tuple forms of a quote's parts, for ``EntryEncoder.entry_parts`` (no objects per tick).
LtpcParts = tuple[float, int, int, float]  # ltp, ltt_ms, ltq, close_price (0 = unknown)
CandleParts = tuple[float, float, float, float, int, int]  # open, high, low, close, vol, ts_ms
Depth = tuple[tuple[int, float, int, float], ...]  # (bidQ, bidP, askQ, askP) per level


@dataclass(frozen=True, slots=True)
class FullParts:
    """What a full-mode entry adds to ``ltpc``: cumulative volume, VWAP, depth, I1 and 1d candles."""

    vtt: int
    atp: float
    depth: Depth
    i1: CandleParts
    d1: CandleParts


class _Slots:
    """A reusable one-entry ``FeedResponse`` and views of the parts that change per quote."""

    __slots__ = ("d1", "depth", "i1", "levels", "ltpc", "market", "message", "serialize")

    def __init__(self, key: str, full: bool) -> None:
        self.message = pb.FeedResponse()
        feed = self.message.feeds[key]
        feed.requestMode = pb.full_d5 if full else pb.ltpc
        self.market = feed.fullFeed.marketFF
        self.ltpc = self.market.ltpc if full else feed.ltpc
        self.levels: list[pb.Quote] = []
        self.depth: Depth | None = None
        self.i1 = self.market.marketOHLC.ohlc.add(interval="I1") if full else None
        self.d1 = self.market.marketOHLC.ohlc.add(interval="1d") if full else None
        self.serialize = self.message.SerializeToString


class EntryEncoder:
    """Encode one instrument's ``feeds`` entry at a time, reusing a message per (key, mode).

    A ``FeedResponse`` holding one ``feeds`` entry and default ``type``/``currentTs`` serializes
    to exactly that map entry's bytes, and protobuf merges concatenated messages, so
    ``frame_from_entries`` joins entries into one ``FeedResponse``. Reusing the message makes
    an entry cost field assignments only (and the depth none when it did not change).
    Full-mode entries carry exactly an ``I1`` and a ``1d`` candle.

    The local exchange no longer sends through this per entry: it encodes a whole tape at
    once (``pixity.feedserver.entries``), and its tests hold those bytes to what this builds.
    It still builds the entries the exchange alters on purpose (fault injection).
    """

    def __init__(self) -> None:
        self._ltpc_slots: dict[str, _Slots] = {}
        self._full_slots: dict[str, _Slots] = {}

    def entry(self, quote: Quote, mode: Mode) -> bytes:
        """Return ``quote`` as the bytes of one ``feeds`` map entry in ``mode``."""
        if quote.ltp is None or quote.ltt_ms is None:
            raise InvalidValueError(f"quote for {quote.key} has no ltp/ltt to encode")
        ltpc = (quote.ltp, quote.ltt_ms, quote.ltq or 0, quote.close_price or 0.0)
        if mode is Mode.LTPC:
            return self.entry_parts(quote.key, ltpc, None)
        candles = {
            c.interval: (c.open, c.high, c.low, c.close, c.volume, c.ts_ms) for c in quote.candles
        }
        zero: CandleParts = (0.0, 0.0, 0.0, 0.0, 0, 0)
        full = FullParts(
            vtt=quote.vtt or 0,
            atp=quote.atp or 0.0,
            depth=quote.depth,
            i1=candles.get("I1", zero),
            d1=candles.get("1d", zero),
        )
        return self.entry_parts(quote.key, ltpc, full)

    def entry_parts(self, key: str, ltpc: LtpcParts, full: FullParts | None) -> bytes:
        """Return one ``feeds`` entry from plain parts: ltpc mode, or full mode with ``full``."""
        if full is not None:
            return self.entry_full(key, ltpc, full.vtt, full.atp, full.depth, full.i1, full.d1)
        slots = self._ltpc_slots.get(key)
        if slots is None:
            slots = self._ltpc_slots[key] = _Slots(key, False)
        out = slots.ltpc
        out.ltp, out.ltt, out.ltq, out.cp = ltpc
        return bytes(slots.serialize())

    # Per tick on the local exchange's send path: ``entry_parts`` in full mode without a
    # ``FullParts`` object (whose frozen ``__init__`` cost as much as filling the message).
    def entry_full(
        self,
        key: str,
        ltpc: LtpcParts,
        vtt: int,
        atp: float,
        depth: Depth,
        i1: CandleParts,
        d1: CandleParts,
    ) -> bytes:
        """Return one full-mode ``feeds`` entry from plain parts (as ``entry_parts`` does)."""
        slots = self._full_slots.get(key)
        if slots is None:
            slots = self._full_slots[key] = _Slots(key, True)
        out = slots.ltpc
        out.ltp, out.ltt, out.ltq, out.cp = ltpc
        market = slots.market
        market.vtt = vtt
        market.atp = atp
        if depth is not slots.depth and depth != slots.depth:
            _set_depth(slots, depth)
        candle = slots.i1
        candle.open, candle.high, candle.low, candle.close, candle.vol, candle.ts = i1  # type: ignore[union-attr]
        candle = slots.d1
        candle.open, candle.high, candle.low, candle.close, candle.vol, candle.ts = d1  # type: ignore[union-attr]
        return bytes(slots.serialize())


def _set_depth(slots: _Slots, depth: Depth) -> None:
    if len(slots.levels) != len(depth):
        # Cleared, not emptied: an entry without a book has no ``marketLevel`` at all,
        # whatever the entry before it had (as a fresh message would serialize it).
        slots.market.ClearField("marketLevel")
        book = slots.market.marketLevel.bidAskQuote
        slots.levels = [book.add() for _ in depth]
    for level, (bid_q, bid_p, ask_q, ask_p) in zip(slots.levels, depth, strict=True):
        level.bidQ = bid_q
        level.bidP = bid_p
        level.askQ = ask_q
        level.askP = ask_p
    slots.depth = depth


def _set_candle(slot: pb.OHLC | None, parts: CandleParts) -> None:
    if slot is not None:
        slot.open, slot.high, slot.low, slot.close, slot.vol, slot.ts = parts


def frame_from_entries(kind: FrameKind, current_ts_ms: int, entries: Iterable[bytes]) -> bytes:
    """Return a ``FeedResponse`` of ``kind`` made of entries from ``EntryEncoder.entry``.

    The keys of the entries must differ: of two entries for one key the last one wins.
    """
    return frame_header(kind, current_ts_ms) + b"".join(entries)


_RESPONSE_FIELDS = pb.FeedResponse.DESCRIPTOR.fields_by_name
_TS_TAG = bytes([(_RESPONSE_FIELDS["currentTs"].number << 3) | wire_format.WIRETYPE_VARINT])
_TYPE_TAG = bytes([(_RESPONSE_FIELDS["type"].number << 3) | wire_format.WIRETYPE_VARINT])
_TYPE_FIELD = {  # proto3 leaves a zero out, as it does the type initial_feed (0)
    kind: _TYPE_TAG + bytes([value]) if value else b"" for value, kind in _KIND.items()
}


def frame_header(kind: FrameKind, current_ts_ms: int) -> bytes:
    """Return the bytes of a ``FeedResponse`` with only ``type`` and ``currentTs`` set.

    The same bytes as ``encode_frame(kind, current_ts_ms, (), ...)``, without building a
    message: this runs once per frame sent.
    """
    value = current_ts_ms & 0xFFFF_FFFF_FFFF_FFFF  # int64: a negative one takes ten bytes
    if not value:
        return _TYPE_FIELD[kind]
    return _TYPE_FIELD[kind] + _TS_TAG + varint(value)


def varint(value: int) -> bytes:
    """Return ``value`` (an unsigned 64-bit int) as a protobuf varint."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
