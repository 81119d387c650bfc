"""Replays reproduce the ticks: of a journal of received frames, and of a Parquet ticks file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fs_support import DAY, SYMS, at, client, frames, n_quotes, quotes_of, running, sub

from pixity.feeds.journal import JournalWriter, read_journal
from pixity.feeds.upstox_wire import Mode, decode_frame
from pixity.feedserver.source import replay_tape
from pixity.sample import SampleMarket


def _ticks(got: list) -> list[tuple]:
    return [(q.key, q.ltt_ms, q.ltp, q.ltq, q.vtt) for q in quotes_of(got)]


async def _receive(n: int, mode: Mode = Mode.FULL, **kw: object) -> list:
    async with running(**kw) as server:  # type: ignore[arg-type]
        ws = await client(server)
        await sub(ws, list(SYMS), mode)
        got = await frames(ws, n_quotes(n))
        await ws.close()
    return got


def _by_key(ticks: list[tuple]) -> dict[str, list[tuple]]:
    """Group ticks per key, in order: a frame is a map, so only per-key order is defined."""
    out: dict[str, list[tuple]] = {}
    for t in ticks:
        out.setdefault(t[0], []).append(t)
    return out


def test_journal_replay_reproduces_the_ticks(tmp_path: Path) -> None:
    journal = tmp_path / "received.journal"
    sent: list[bytes] = []

    async def record() -> None:
        async with running(speed=300, on_send=sent.append) as server:
            ws = await client(server)
            await sub(ws, list(SYMS), Mode.FULL)
            await frames(ws, n_quotes(200))
            await ws.close()

    asyncio.run(record())
    with JournalWriter(journal) as writer:  # what the ingest's journal holds
        for data in sent:
            writer.append(data, 0)
    wanted = _ticks([decode_frame(r.payload) for r in read_journal(journal)])
    tape = replay_tape(journal)
    assert len(tape) == len(wanted)
    first = min(t[1] for t in wanted)
    replayed = asyncio.run(_receive(len(wanted), source=tape, start_ms=first - 1, speed=300))
    assert _by_key(_ticks(replayed)) == _by_key(sorted(wanted, key=lambda t: t[1]))


def test_parquet_replay_reproduces_the_ticks(tmp_path: Path) -> None:
    path = tmp_path / "ticks.parquet"
    frame = SampleMarket(list(SYMS), seed=7).ticks_frame(DAY)
    window = frame[(frame["ltt"] >= at(10, 0)) & (frame["ltt"] < at(10, 5))]
    window.to_parquet(path)
    tape = replay_tape(path)
    assert len(tape) == len(window)
    got = asyncio.run(_receive(len(window), source=tape, start_ms=at(9, 59), speed=300))
    rows = zip(
        window["symbol"], window["ltt"], window["ltp"], window["ltq"], window["vtt"], strict=True
    )
    wanted = [(s, int(t), p, int(q), int(v)) for s, t, p, q, v in rows]
    assert _by_key(_ticks(got)) == _by_key(wanted)


def test_replay_refuses_a_file_that_is_neither(tmp_path: Path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"hello world")
    try:
        replay_tape(bad)
    except Exception as exc:  # noqa: BLE001
        assert "neither" in str(exc)
    else:
        raise AssertionError("expected a ConfigError")
