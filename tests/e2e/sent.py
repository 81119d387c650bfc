"""What the local exchange sent, decoded apart from the ingest: the reference the tests check
the stored ticks and bars against."""

from __future__ import annotations

from collections.abc import Iterable

from pixity.domain import Tick
from pixity.feeds.upstox_wire import Frame, FrameKind
from pixity.markettime import from_epoch_ms


def trades_of(frames: Iterable[Frame]) -> list[Tick]:
    """Return the trades of ``frames``' live_feed entries, volume from each key's vtt change."""
    out: list[Tick] = []
    last_vtt: dict[str, int] = {}
    for frame in frames:
        if frame.kind is not FrameKind.LIVE_FEED:
            continue
        for q in frame.quotes:
            if q.ltp is None or q.ltt_ms is None or q.ltq is None:
                continue
            prev = last_vtt.get(q.key)
            volume = q.ltq if prev is None or q.vtt is None else q.vtt - prev
            if q.vtt is not None:
                last_vtt[q.key] = q.vtt
            out.append(
                Tick(symbol=q.key, ts=from_epoch_ms(q.ltt_ms), price=q.ltp, last_qty=q.ltq,
                     cum_volume=q.vtt, volume=volume, seq=len(out))
            )  # fmt: skip
    return out
