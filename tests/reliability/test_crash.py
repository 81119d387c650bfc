"""Crashes: ``kill -9`` of the ingest and of the live session at random moments, then restart.

The market is fixed: six keys of the seeded sample market on 2025-06-03 from 09:15 to 11:01
(12:31 with ``PIXITY_SOAK=1``), played by a real ``pixity feed-server --replay`` at 1200x
(600x). Its uninterrupted run into a real ``pixity ingest`` (``calm_market``) is both the
reference of the ingest test and the live buffer the live sessions trade on.

The crashed runs go through a slow disk where strace works (``crash_support``), so that kills
land inside SQLite commits as well as between them; each test says how many did.

- Ingest: the same replay into a fresh ingest killed 5 times (20), each life a seeded random
  0.3 to 1 s (every third: it dies starting up, rebuilding its day or replaying its journal)
  or 1.3 to 2.6 s (while streaming, maybe inside a flush). Each start must replay what the
  journal holds past market.db's committed offset. At the end the bars equal the
  uninterrupted run's and ``bars_from_ticks`` of the ticks replayed, and the ticks are the
  same ticks, none stored twice.
- Live session: ``pixity live`` over a copy of that market, its launcher, papermill and kernel
  killed together 2 times (5), each when its share of the day's fills is stored (the second
  when the daily-loss kill is), plus a random 0 to 1 s; then run to ``--until``
  and compared with an uninterrupted session over another copy: the same signals (with their
  status), orders, fills, positions, day P&L, kill state, risk events and runner states, and
  nothing twice. The limit (100 rupees) is hit at 10:29; with ``PIXITY_SOAK=1`` a second
  variant (5,000) is never hit.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from crash_support import (
    DAY,
    HISTORY_DAYS,
    KEYS,
    SOAK,
    TOKEN,
    Account,
    JournalTail,
    Launched,
    account,
    copy_data,
    journal_path,
    journal_tail,
    query,
    slow_disk_prefix,
    uncommitted_wal_frames,
    wal_stamp,
)
from procs import get_json, poll
from suite import record

from pixity.bars import bars_from_ticks
from pixity.domain import Bar, Tick
from pixity.feeds.journal import read_journal, valid_length
from pixity.frames import frame_from_ticks
from pixity.markettime import ist
from pixity.sample import SampleMarket
from pixity.stores.lake import write_bars
from pixity.stores.market import MarketReader
from pixity.stores.paths import StorePaths

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200 if SOAK else 180)]

SPEED = "600" if SOAK else "1200"  # the soak's 20 lives need a longer tape
RESEND_S = "1"  # what the exchange sends again to a client that replaces a lost one
END = ist(2025, 6, 3, 12, 31) if SOAK else ist(2025, 6, 3, 11, 1)  # the tape's end
UNTIL = "12:30" if SOAK else "11:00"
INGEST_CRASHES = 20 if SOAK else 5
LIVE_CRASHES = 5 if SOAK else 2
INGEST_SLOW_WRITE_US = 1000  # what the slow disk adds to each of the ingest's pwrite64
LIVE_SLOW_WRITE_US = 5000  # and to the live session's: a day's replay then takes seconds
HEALTH = r"(http://127\.0\.0\.1:\d+)/health"


@dataclass(frozen=True)
class Tape:
    ticks: list[Tick]
    path: Path


@pytest.fixture(scope="module")
def tape(tmp_path_factory: pytest.TempPathFactory) -> Tape:
    ticks = [t for t in SampleMarket(KEYS, seed=7).ticks(DAY) if t.ts < END]
    path = tmp_path_factory.mktemp("tape") / "tape.parquet"
    frame_from_ticks(ticks).to_parquet(path)
    return Tape(ticks, path)


@pytest.fixture(scope="module")
def calm_market(tmp_path_factory: pytest.TempPathFactory, tape: Tape) -> Path:
    """The replay, uninterrupted, into a data dir with the history the warm-up reads."""
    tmp = tmp_path_factory.mktemp("calm")
    data = tmp / "data"
    write_bars(data, SampleMarket(KEYS, seed=7).bars_frame(list(HISTORY_DAYS)))
    replay(tmp, data, tape, lifetimes=[], prefix=[])
    return data


# ------------------------------------------------------------------ the ingest


@dataclass(frozen=True)
class Life:
    """One ingest process of a crashed run, and what its kill left."""

    lifetime_s: float
    ready_s: float | None  # start to /health (journal replayed, feed starting); None: died first
    tail: JournalTail | None
    uncommitted_wal_frames: int  # counted only if this life wrote to the WAL
    caught_up: bool  # it said it had replayed its journal


def start_ingest(tmp: Path, url: str, data: Path, name: str, prefix: list[str]) -> Launched:
    args = [
        "ingest", "--feed", "upstox", "--feed-url", url, "--symbols", *KEYS,
        "--data-dir", str(data), "--health-port", "0",
    ]  # fmt: skip
    return Launched(args, tmp / f"{name}.log", env={"UPSTOX_ACCESS_TOKEN": TOKEN}, prefix=prefix)


READY_WITHIN_S = 60.0  # an ingest that is not up by then fails the test


def replay(
    tmp: Path, data: Path, tape: Tape, *, lifetimes: list[tuple[float, bool]], prefix: list[str]
) -> tuple[list[Life], float]:
    """Replay ``tape`` into ``data``, killing one ingest after each of ``lifetimes``, then one
    to the end; return the lives and the last one's start-up time.

    A lifetime ``(s, False)`` counts from the launch (a kill during start-up, however slow the
    machine); ``(s, True)`` from the moment /health is up (a kill while streaming).
    """
    # What was in flight when an ingest died is sent again to its successor: the test is about
    # what the ingest itself loses, not the socket buffers a kill -9 throws away.
    exchange = Launched(
        ["feed-server", "--symbols", *KEYS, "--port", "0", "--replay", str(tape.path),
         "--speed", SPEED, "--resend-on-resubscribe", RESEND_S, "--data-dir", str(tmp / "fs")],
        tmp / "feed-server.log",
    )  # fmt: skip
    url = exchange.wait_for(r"(ws://127\.0\.0\.1:\d+/v3/feed/market-data-feed)").group(1)
    lives = []
    market = StorePaths(data).market
    try:
        for i, (lifetime, from_ready) in enumerate(lifetimes):
            stamp = wal_stamp(market)
            ingest = start_ingest(tmp, url, data, f"ingest-{i}", prefix)
            ready = None
            while True:
                age = time.monotonic() - ingest.started
                if ready is None and ingest.saw("/health"):
                    ready = age
                if from_ready and ready is None:
                    assert age < READY_WITHIN_S, f"ingest-{i} not up within {READY_WITHIN_S} s"
                elif age - (ready if from_ready else 0.0) >= lifetime:  # type: ignore[operator]
                    break
                time.sleep(0.01)
            ingest.kill_all()
            lives.append(
                Life(
                    lifetime_s=lifetime,
                    ready_s=ready,
                    tail=journal_tail(data),
                    uncommitted_wal_frames=0
                    if wal_stamp(market) == stamp
                    else uncommitted_wal_frames(market),
                    caught_up=ingest.saw("caught up with the journal"),
                )
            )
        last = start_ingest(tmp, url, data, "ingest-last", prefix)
        health = last.wait_for(HEALTH, timeout=120).group(1)
        ready_s = time.monotonic() - last.started
        poll(
            lambda: clock_at(health, END + timedelta(seconds=30)),
            180,
            interval=0.02,
            what="the tape's end",
        )
        assert last.stop() == 0, "".join(last.lines[-30:])
    finally:
        exchange.stop()
    return lives, ready_s


def clock_at(health: str, when: datetime) -> bool:
    clock = get_json(f"{health}/health").get("feed_clock")
    return clock is not None and datetime.fromisoformat(clock) >= when


def stored(data: Path) -> tuple[list[Bar], list[Tick]]:
    with MarketReader(StorePaths(data).market) as reader:
        bars = sorted(reader.bars_1m(), key=lambda b: (b.symbol, b.ts))
        return bars, sorted(reader.ticks(), key=lambda t: t.seq)


def by_key(ticks: list[Tick]) -> dict[str, list[tuple[Any, ...]]]:
    """Return each key's ticks in seq order, without the seq."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for t in ticks:
        out.setdefault(t.symbol, []).append((t.ts, t.price, t.last_qty, t.cum_volume, t.volume))
    return out


def test_kill_9_of_the_ingest_at_random_moments_loses_and_repeats_nothing(
    tmp_path: Path, tape: Tape, calm_market: Path
) -> None:
    prefix, why_not = slow_disk_prefix(INGEST_SLOW_WRITE_US)
    rng = random.Random(5)
    # Every third dies within about its start-up (opening the store, rebuilding the day,
    # replaying the journal); the others 0.3 to 1.6 s after /health is up, while streaming,
    # each possibly inside a flush.
    lifetimes = [
        (round(rng.uniform(0.3, 1.0), 3), False)
        if i % 3 == 2
        else (round(rng.uniform(0.3, 1.6), 3), True)
        for i in range(INGEST_CRASHES)
    ]
    data = tmp_path / "crashed"
    started = time.monotonic()
    lives, last_ready_s = replay(tmp_path, data, tape, lifetimes=lifetimes, prefix=prefix)
    took = time.monotonic() - started

    calm_bars, calm_ticks = stored(calm_market)
    bars, ticks = stored(data)
    expected = bars_from_ticks(tape.ticks)
    assert len(expected) > 500 and all(b.closed for b in calm_bars)
    assert bars == calm_bars == expected  # minute for minute, every field, all closed
    # The same ticks, each key's in the same order, none stored twice. (Across keys the order
    # of arrival, and so seq, is the frames': a resend packs them otherwise.)
    assert by_key(ticks) == by_key(calm_ticks)
    assert len({t.seq for t in ticks}) == len(ticks) == len(tape.ticks)
    assert len({(t.symbol, t.ts, t.price, t.last_qty, t.cum_volume) for t in ticks}) == len(ticks)
    # Each start replayed what the journal held past the committed offset: by the next kill
    # (or the end) the committed offset had passed it, unless that life died before a flush.
    tails = [life.tail for life in lives]
    end = journal_tail(data)
    assert end is not None and end.committed == valid_length(journal_path(data))
    assert end.frames_to_replay == 0 and end.torn_bytes == 0
    replayed_by_next = 0
    for k, tail in enumerate(tails):
        if tail is None or tail.frames_to_replay == 0:
            continue
        later = [t for t in [*tails[k + 1 :], end] if t is not None]
        assert later[-1].committed >= tail.journaled
        replayed_by_next += later[0].committed >= tail.journaled
    with_frames = [t for t in tails if t is not None and t.frames_to_replay]
    assert with_frames, "no kill left frames for the journal replay"
    record(
        tmp_path,
        "ingest_crashes",
        {
            "crashes": len(lives),
            "slow_disk": why_not or f"+{INGEST_SLOW_WRITE_US / 1000:g} ms per pwrite64",
            "lifetimes_s": lifetimes,
            "killed_before_ready": sum(life.ready_s is None for life in lives),
            "ready_s": [None if life.ready_s is None else round(life.ready_s, 2) for life in lives]
            + [round(last_ready_s, 2)],
            "frames_to_replay_per_restart": [t.frames_to_replay if t else 0 for t in tails],
            "restarts_that_said_caught_up": sum(life.caught_up for life in lives),
            "replay_committed_before_next_kill": f"{replayed_by_next} of {len(with_frames)}",
            "torn_journal_records": sum(bool(t and t.torn_bytes) for t in tails),
            "kills_inside_a_flush": sum(life.uncommitted_wal_frames > 0 for life in lives),
            "uncommitted_wal_frames": [life.uncommitted_wal_frames for life in lives],
            "bars_compared": len(bars),
            "ticks_compared": len(ticks),
            "journal_frames": sum(1 for _ in read_journal(journal_path(data))),
            "run_s": round(took, 1),
        },
    )


# ------------------------------------------------------------------ the live session


@dataclass(frozen=True)
class Variant:
    name: str
    max_daily_loss: str
    daily_loss_kill: bool  # whether the limit is hit before --until


VARIANTS = [
    Variant("daily-loss-kill", "100", True),
    *([Variant("no-kill", "5000", False)] if SOAK else []),
]


def live_args(data: Path, variant: Variant, run_id: str) -> list[str]:
    return [
        "live", "--mode", "paper", "--symbols", *KEYS, "--strategies", "ref_ema_cross",
        "--max-capital", "100000", "--max-daily-loss", variant.max_daily_loss,
        "--data-dir", str(data), "--until", UNTIL, "--run-id", run_id,
    ]  # fmt: skip


def session_log(data: Path) -> Path:
    return StorePaths(data).runs / DAY.isoformat() / "live_session.log"


def log_count(data: Path, words: tuple[str, ...]) -> int:
    try:
        lines = session_log(data).read_text().splitlines()
    except FileNotFoundError:
        return 0
    return sum(all(w in line for w in words) for line in lines)


STARTED = ("pixity.live.engine: session ", " started: ")
STOPPED = ("pixity.live.engine: session stopped",)


def fills_stored(data: Path) -> int:
    return int(query(StorePaths(data).paper, "SELECT COUNT(*) FROM fills")[0][0])


def kill_stored(data: Path) -> bool:
    sql = "SELECT 1 FROM risk_events WHERE kind = 'daily_loss_kill'"
    return bool(query(StorePaths(data).paper, sql))


def kill_condition(
    i: int, variant: Variant, data: Path, fills: int
) -> tuple[str, Callable[[], bool]]:
    """Return what the ``i``-th kill waits for, called just before that life starts.

    A restarted session replays the day from its start: waiting for ``fills`` fills, more
    than the previous life left, makes each kill land further into the day.
    """
    started = log_count(data, STARTED)

    def restarted() -> bool:  # the restore is done and the day's replay under way
        return log_count(data, STARTED) > started

    if i == 1 and variant.daily_loss_kill:
        return "the daily-loss kill stored", lambda: restarted() and kill_stored(data)
    return f"{fills} fills stored", lambda: restarted() and fills_stored(data) >= fills


def crash_once(
    tmp: Path, data: Path, variant: Variant, i: int, fills: int, prefix: list[str], delay: float
) -> tuple[dict[str, Any], Account]:
    """Start a session, kill all its processes ``delay`` s after its condition; say what was left."""
    condition, ready = kill_condition(i, variant, data, fills)
    stopped = log_count(data, STOPPED)
    run = Launched(live_args(data, variant, f"crashed-{i}"), tmp / f"live-{i}.log", prefix=prefix)
    poll(ready, 180, interval=0.02, what=condition)
    ready_s = time.monotonic() - run.started
    time.sleep(delay)
    moment = time.monotonic() - run.started
    killed = run.kill_all()
    paths = StorePaths(data)
    dbs = (paths.signals, paths.config, paths.paper)
    state = account(data)
    return {
        "after": condition,
        "condition_met_s": round(ready_s, 2),
        "killed_at_s": round(moment, 2),
        "processes_killed": len(killed),
        "finished_processing": log_count(data, STOPPED) > stopped,
        "fills_stored": len(state.fills),
        "signals_stored": len(state.signals),
        "killed_state_stored": state.killed,
        "uncommitted_wal_frames": {db.name: uncommitted_wal_frames(db) for db in dbs},
    }, state


def assert_same_account(want: Account, got: Account, before_kills: list[Account]) -> None:
    """The crashed session's account is the uninterrupted one's, row for row, nothing twice."""
    assert want.fills and want.signals
    for acct in (want, got):
        assert acct.signal_keys_repeated == 0 and acct.fills_per_order_repeated == 0
        # The account is its fills: each position is the net of its symbol's fills.
        assert {p[1]: p[2] for p in acct.positions} == acct.net_of_fills
        assert {r[6] for r in acct.runners} == {"STOPPED"}
    # What was stored before each kill stays as it was (a signal's status may move on).
    for before in before_kills:
        assert set(before.fills) <= set(got.fills)
        assert {s[:5] + s[7:] for s in before.signals} <= {s[:5] + s[7:] for s in got.signals}
    assert got.signals == want.signals  # with status and reason
    assert got.orders == want.orders
    assert got.fills == want.fills
    assert got.positions == want.positions
    assert got.day_pnl == want.day_pnl  # realised, unrealised, costs, killed, why
    assert got.risk_events == want.risk_events
    assert got.runners == want.runners


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_kill_9_of_the_live_session_repeats_nothing_and_keeps_the_account(
    tmp_path: Path, calm_market: Path, variant: Variant
) -> None:
    prefix, why_not = slow_disk_prefix(LIVE_SLOW_WRITE_US)
    rng = random.Random(11)
    calm = copy_data(calm_market, tmp_path / "uninterrupted")
    data = copy_data(calm_market, tmp_path / "crashed")
    started = time.monotonic()
    reference = Launched(live_args(calm, variant, "uninterrupted"), tmp_path / "calm.log")
    kills, seen = [], []
    for i in range(LIVE_CRASHES):
        if i == 1:  # by now it is done (it runs at full speed): the day's fills are known
            assert reference.popen.wait(timeout=240) == 0, "".join(reference.lines[-40:])
        # Kill i comes after the (i + 1)-th of LIVE_CRASHES + 1 equal shares of the day's fills.
        total = len(account(calm).fills) if i else 1
        fills = max(1, -(-(i + 1) * total // (LIVE_CRASHES + 1)))
        delay = rng.uniform(0.0, 1.0)
        figures, state = crash_once(tmp_path, data, variant, i, fills, prefix, delay)
        kills.append(figures)
        seen.append(state)
    restarts = log_count(data, STARTED)
    final = Launched(live_args(data, variant, "final"), tmp_path / "live-final.log")
    poll(lambda: log_count(data, STARTED) > restarts, 180, interval=0.02, what="the final restart")
    final_ready_s = time.monotonic() - final.started
    assert final.popen.wait(timeout=240) == 0, "".join(final.lines[-40:])
    final.stop()
    assert reference.popen.wait(timeout=240) == 0, "".join(reference.lines[-40:])
    reference.stop()
    took = time.monotonic() - started

    if why_not is None:  # on the slowed disk, a kill lands while the session is still working
        assert not all(k["finished_processing"] for k in kills), "every kill came after the work"
    want, got = account(calm), account(data)
    assert want.killed is variant.daily_loss_kill
    assert_same_account(want, got, seen)
    if variant.daily_loss_kill:
        assert got.kill_ts is not None and got.kill_ts == want.kill_ts
        # No entry after the kill: only the flattening orders, and refusals.
        late = [o for o in got.orders if o[8] == "entry" and o[5] > got.kill_ts and o[6] == "FILLED"]  # fmt: skip
        assert late == []
        assert any(e[1] == "entry_while_killed" for e in got.risk_events)
        assert any(k["killed_state_stored"] for k in kills), "no kill after the daily-loss kill"
    record(
        tmp_path,
        f"live_crashes_{variant.name}",
        {
            "crashes": len(kills),
            "slow_disk": why_not or f"+{LIVE_SLOW_WRITE_US / 1000:g} ms per pwrite64",
            "kills": kills,
            "final_restart_s": round(final_ready_s, 2),
            "signals": len(got.signals),
            "orders": len(got.orders),
            "fills": len(got.fills),
            "positions": len(got.positions),
            "risk_events": len(got.risk_events),
            "day_pnl": got.day_pnl[0][1:5],
            "kill_ts": got.kill_ts,
            "run_s": round(took, 1),
        },
    )
