"""The local exchange speaks Upstox V3: order of frames, modes, subscriptions, SDK decoding."""

from __future__ import annotations

import asyncio
import json

from fs_support import SYMS, at, client, frames, n_quotes, quotes_of, running, sub
from google.protobuf.json_format import MessageToDict
from upstox_client.feeder.proto import MarketDataFeedV3_pb2 as pb

from pixity.feeds.upstox_wire import FrameKind, Method, Mode, build_request, decode_frame
from pixity.feedserver.tape import TICK_SIZE


def test_subscribe_sends_market_info_then_initial_feed_then_live_feed() -> None:
    async def go() -> None:
        async with running(speed=60) as server:
            ws = await client(server)
            await sub(ws, [SYMS[0], SYMS[1]], Mode.FULL)
            got = await frames(ws, n_quotes(30))
            await ws.close()
        kinds = [f.kind for f in got]
        assert kinds[0] is FrameKind.MARKET_INFO
        assert got[0].segment_status["NSE_EQ"] == "NORMAL_OPEN"
        assert kinds[1] is FrameKind.INITIAL_FEED
        assert {q.key for q in got[1].quotes} == {SYMS[0], SYMS[1]}
        assert set(kinds[2:]) == {FrameKind.LIVE_FEED}
        assert {q.key for q in quotes_of(got)} <= {SYMS[0], SYMS[1]}  # SYMS[2] never asked for
        stamps = [f.current_ts_ms for f in got]
        assert stamps == sorted(stamps) and stamps[0] == at(9, 20)
        for frame in got:
            keys = [q.key for q in frame.quotes]
            assert len(keys) == len(set(keys))
            assert all(
                q.ltt_ms is not None and q.ltt_ms <= frame.current_ts_ms for q in frame.quotes
            )

    asyncio.run(go())


def test_a_client_replacing_a_lost_one_gets_the_resend_before_the_snapshot() -> None:
    """The resent ticks come first, so their stamps never go back and none is late."""

    async def go() -> tuple[list, list]:
        async with running(speed=120, resend_s=1.0) as server:
            first = await client(server)
            await sub(first, [SYMS[0], SYMS[1]], Mode.FULL)
            lost = await frames(first, n_quotes(40))
            await first.close()  # a subscribed client's connection ends
            await asyncio.sleep(0.1)
            second = await client(server)
            await sub(second, [SYMS[0], SYMS[1]], Mode.FULL)
            got = await frames(second, lambda g: any(f.kind is FrameKind.INITIAL_FEED for f in g))
            resent = server.stats()["resent_ticks"]
            # A later request of the same client (more keys) is not a new client: no resend.
            await sub(second, [SYMS[2]], Mode.LTPC)
            await frames(second, lambda g: any(SYMS[2] in {q.key for q in f.quotes} for f in g))
            assert resent and server.stats()["resent_ticks"] == resent
            await second.close()
        return lost, got

    lost, got = asyncio.run(go())
    kinds = [f.kind for f in got]
    snapshot = kinds.index(FrameKind.INITIAL_FEED)
    assert kinds[snapshot - 1] is FrameKind.MARKET_INFO and snapshot >= 2
    assert set(kinds[: snapshot - 1]) == {FrameKind.LIVE_FEED}  # the resend, then the notice
    stamps = [f.current_ts_ms for f in got]
    assert stamps == sorted(stamps)
    # The last ticks the lost client saw are among those resent.
    resent = {(q.key, q.ltt_ms, q.ltp) for f in got[: snapshot - 1] for q in f.quotes}
    assert {(q.key, q.ltt_ms, q.ltp) for q in quotes_of(lost)[-5:]} <= resent


def test_full_mode_carries_depth_vtt_atp_and_candles() -> None:
    async def go() -> list:
        async with running(speed=300) as server:
            ws = await client(server)
            await sub(ws, [SYMS[0]], Mode.FULL)
            got = await frames(ws, n_quotes(300))
            await ws.close()
        return [q for f in got if f.kind is FrameKind.LIVE_FEED for q in f.quotes]

    quotes = asyncio.run(go())
    vtts = [q.vtt for q in quotes]
    assert vtts == sorted(vtts) and vtts[0] > 0
    for q in quotes:
        assert len(q.depth) == 5
        bids = [level[1] for level in q.depth]
        asks = [level[3] for level in q.depth]
        assert bids == sorted(bids, reverse=True) and bids[0] < q.ltp < asks[0]
        assert all(abs(round(p / TICK_SIZE) * TICK_SIZE - p) < 1e-6 for p in bids + asks)
        i1, d1 = {c.interval: c for c in q.candles}["I1"], {c.interval: c for c in q.candles}["1d"]
        assert i1.ts_ms == q.ltt_ms // 60_000 * 60_000
        assert i1.low <= min(i1.open, i1.close) <= max(i1.open, i1.close) <= i1.high
        assert d1.low <= i1.low and i1.high <= d1.high and d1.close == q.ltp == i1.close
        assert d1.volume == q.vtt
        assert d1.low <= q.atp <= d1.high


def test_ltpc_mode_carries_only_ltpc_and_change_mode_switches_it() -> None:
    async def go() -> tuple[list, list]:
        async with running(speed=300) as server:
            ws = await client(server)
            await sub(ws, [SYMS[0]], Mode.LTPC)
            before = await frames(ws, n_quotes(20))
            await ws.send(build_request(Method.CHANGE_MODE, [SYMS[0]], Mode.FULL))
            after = await frames(ws, lambda g: any(q.depth for q in quotes_of(g)))
            await ws.close()
        return before, after

    before, after = asyncio.run(go())
    for q in quotes_of(before):
        assert q.ltp and q.ltt_ms and q.ltq is not None
        assert q.depth == () and q.candles == () and q.vtt is None
    assert any(f.kind is FrameKind.INITIAL_FEED and f.quotes[0].depth for f in after)


def test_unsub_stops_a_key_and_unknown_requests_are_ignored() -> None:
    async def go() -> tuple[list, dict]:
        async with running(speed=300) as server:
            ws = await client(server)
            await sub(ws, [SYMS[0], SYMS[1]], Mode.LTPC)
            await frames(ws, n_quotes(10))
            await ws.send(b"{not json")
            await ws.send(json.dumps({"guid": "1", "method": "bogus", "data": {}}))
            await ws.send(build_request(Method.UNSUB, [SYMS[1]]))
            await asyncio.sleep(0.1)  # let frames queued before the unsub drain
            await frames(ws, lambda g: len(g) > 20)
            later = await frames(ws, n_quotes(30))
            await ws.close()
            return later, dict(server.counts)

    later, counts = asyncio.run(go())
    assert {q.key for q in quotes_of(later)} == {SYMS[0]}
    assert counts["malformed_requests"] == 2
    assert counts["requests_unsub"] == 1


def test_text_frame_requests_are_accepted() -> None:
    async def go() -> list:
        async with running(speed=60) as server:
            ws = await client(server)
            await ws.send(build_request(Method.SUB, [SYMS[0]], Mode.LTPC).decode())
            got = await frames(ws, n_quotes(2))
            await ws.close()
            return got

    assert asyncio.run(go())[0].kind is FrameKind.MARKET_INFO


def test_the_official_sdk_decoder_reads_our_frames() -> None:
    raw: list[bytes] = []

    async def go() -> None:
        async with running(speed=300) as server:
            ws = await client(server)
            await sub(ws, [SYMS[0]], Mode.FULL)
            while len(raw) < 40:
                raw.append(await asyncio.wait_for(ws.recv(), 5))
            await ws.close()

    asyncio.run(go())
    dicts = []
    for data in raw:
        message = pb.FeedResponse()
        message.ParseFromString(data)
        dicts.append(MessageToDict(message))  # what MarketDataStreamerV3.handle_message does
    assert dicts[0]["type"] == "market_info"
    assert dicts[0]["marketInfo"]["segmentStatus"]["NSE_EQ"] == "NORMAL_OPEN"
    # proto3 leaves out the default enum value, initial_feed, for real Upstox frames too.
    assert "type" not in dicts[1] and SYMS[0] in dicts[1]["feeds"]
    live = [d for d in dicts if d.get("type") == "live_feed" and "feeds" in d]
    feed = live[0]["feeds"][SYMS[0]]
    market = feed["fullFeed"]["marketFF"]
    assert feed["requestMode"] == "full_d5"
    assert set(market["ltpc"]) >= {"ltp", "ltt", "ltq", "cp"}
    assert len(market["marketLevel"]["bidAskQuote"]) == 5
    assert [c["interval"] for c in market["marketOHLC"]["ohlc"]] == ["I1", "1d"]
    assert int(market["vtt"]) > 0 and market["atp"] > 0
    assert int(live[0]["currentTs"]) >= int(market["ltpc"]["ltt"])
    assert decode_frame(raw[2]).kind is FrameKind.LIVE_FEED
