"""Decode a V3 ``FeedResponse`` for its trades only: what the ingest reads, nothing else.

``upstox_wire.decode_frame`` builds a full ``Quote`` per entry, depth and candles included;
the ingest reads only the key, ``ltp``, ``ltt``, ``ltq`` and ``vtt``, and building the rest cost
most of its per-tick budget. ``decode_trades`` parses the same bytes with the same upb message
(so it rejects exactly what ``decode_frame`` rejects and yields the entries in the same order)
and reads just those fields into plain tuples.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from upstox_client.feeder.proto import MarketDataFeedV3_pb2 as pb

from pixity.feeds.upstox_wire import FrameKind, parse_response

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
    message, kind, status = parse_response(raw)
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
