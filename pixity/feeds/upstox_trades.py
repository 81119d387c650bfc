"""Decode a V3 ``FeedResponse`` for its trades only: what the ingest reads, nothing else.

``upstox_wire.decode_frame`` builds a full ``Quote`` per entry, depth and candles included;
the ingest reads only the key, ``ltp``, ``ltt``, ``ltq`` and ``vtt``, and building the rest cost
most of its per-tick budget. ``decode_trades`` reads just those fields into plain tuples, in
the order ``decode_frame`` yields its quotes, and parses the bytes with a copy of Upstox's
schema (``TRADES_SCHEMA``) that leaves out the fields no trade is read from: the depth, the
candles, the greeks and every other field of an entry but its ``ltpc`` and ``vtt``. Those are
skipped by their tag and length, which halves the parse (0.7 to 0.3 us an entry in full
mode). What it refuses: every frame whose structure (each tag and length, down to the trades'
own fields) is broken, as ``decode_frame`` does. What it takes that ``decode_frame`` refuses:
a frame whose only fault lies *inside* a skipped field (a corrupt depth block, say); its
trades are read as they are and nothing is read from the rest. The tests hold the two to
this: on every frame ``decode_frame`` takes they agree exactly, and where only
``decode_trades`` takes one, its trades are those of the same frame with the skipped fields
cut out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from upstox_client.feeder.proto import MarketDataFeedV3_pb2 as pb

from pixity.feeds.upstox_wire import FrameKind, parse_response

# The messages that hold trades, and the fields of each that decode_trades reads.
_READ = {"MarketFullFeed": ("ltpc", "vtt"), "IndexFullFeed": ("ltpc",), "FirstLevelWithGreeks": ("ltpc", "vtt")}  # fmt: skip


def _trades_schema() -> type[pb.FeedResponse]:
    """Return ``FeedResponse`` from a copy of Upstox's schema without the fields of no trade.

    Built in a pool of its own from the SDK's descriptor, so it follows the SDK (field
    numbers, types, the rest of the messages) and cannot clash with its classes.
    """
    proto = descriptor_pb2.FileDescriptorProto()
    pb.DESCRIPTOR.CopyToProto(proto)
    for message in proto.message_type:
        if message.name in _READ:
            kept = [f for f in message.field if f.name in _READ[message.name]]
            missing = set(_READ[message.name]) - {f.name for f in kept}
            if missing:  # an SDK whose schema changed: say so at import, not per frame
                raise ImportError(f"upstox-python-sdk's {message.name} has no {sorted(missing)}")
            del message.field[:]
            message.field.extend(kept)
    pool = descriptor_pool.DescriptorPool()
    for dependency in pb.DESCRIPTOR.dependencies:
        imported = descriptor_pb2.FileDescriptorProto()
        dependency.CopyToProto(imported)
        pool.Add(imported)
    pool.Add(proto)
    descriptor = pool.FindMessageTypeByName(pb.FeedResponse.DESCRIPTOR.full_name)
    schema: type[pb.FeedResponse] = message_factory.GetMessageClass(descriptor)
    return schema


TRADES_SCHEMA = _trades_schema()

# key, ltp, ltt_ms, ltq, vtt: the values ``decode_frame``'s ``Quote`` has for them (ltp, ltt_ms
# and ltq None when the entry carries no ``ltpc``; vtt None outside full and greeks modes).
TradeEntry = tuple[str, float | None, int | None, int | None, int | None]


class TradeFrame(NamedTuple):
    """A ``FeedResponse`` reduced to its trades (``segment_status`` as ``Frame`` has it)."""

    kind: FrameKind
    current_ts_ms: int
    entries: tuple[TradeEntry, ...]
    segment_status: dict[str, str]


def decode_trades(raw: bytes) -> TradeFrame:
    """Decode one ``FeedResponse`` to its trades; raise ``MalformedFrameError`` for anything else."""
    message, kind, status = parse_response(raw, TRADES_SCHEMA)
    return TradeFrame(kind, message.currentTs, _entries(message.feeds), status)


def _entries(feeds: Mapping[str, pb.Feed]) -> tuple[TradeEntry, ...]:
    """Read each entry, guessing its mode from the one before and checking the guess.

    An unset submessage reads as all zeros, so a nonzero ``ltt`` or ``ltp`` read through the
    guessed path proves the entry has that union member and an ``ltpc``; anything else (index
    and greeks entries, entries without ``ltpc``, a zero trade) takes the exact path. This
    skips ``WhichOneof``/``HasField`` for ordinary entries, about a third of the cost. The map
    is walked by key (its ``items()`` is the generic Python mixin's, a few percent dearer).
    """
    out: list[TradeEntry] = []
    append = out.append
    full = True
    for key in feeds:
        feed = feeds[key]
        if full:
            market = feed.fullFeed.marketFF
            ltpc = market.ltpc
            ltp, ltt = ltpc.ltp, ltpc.ltt
            if ltt or ltp:
                append((key, ltp, ltt, ltpc.ltq, market.vtt))
                continue
        ltpc = feed.ltpc
        ltp, ltt = ltpc.ltp, ltpc.ltt
        if ltt or ltp:
            full = False
            append((key, ltp, ltt, ltpc.ltq, None))
            continue
        full = True
        append(_entry(key, feed))
    return tuple(out)


def _entry(key: str, feed: pb.Feed) -> TradeEntry:
    """Read one entry the way ``decode_frame`` does, member by member."""
    union = feed.WhichOneof("FeedUnion")
    if union == "fullFeed":
        full = feed.fullFeed
        if full.WhichOneof("FullFeedUnion") == "indexFF":
            index = full.indexFF
            return _with_ltpc(key, index.ltpc if index.HasField("ltpc") else None, None)
        market = full.marketFF
        return _with_ltpc(key, market.ltpc if market.HasField("ltpc") else None, market.vtt)
    if union == "ltpc":
        return _with_ltpc(key, feed.ltpc if feed.HasField("ltpc") else None, None)
    if union == "firstLevelWithGreeks":
        greeks = feed.firstLevelWithGreeks
        return _with_ltpc(key, greeks.ltpc if greeks.HasField("ltpc") else None, greeks.vtt)
    return (key, None, None, None, None)


def _with_ltpc(key: str, ltpc: pb.LTPC | None, vtt: int | None) -> TradeEntry:
    if ltpc is None:
        return (key, None, None, None, vtt)
    return (key, ltpc.ltp, ltpc.ltt, ltpc.ltq, vtt)
