"""Network faults for real processes: the runs, connections read off journals, leak counts.

A connection shows in a journal (the ingest's, or the feed-server's ``--record``) as a run of
frames that starts with the ``market_info`` the local exchange sends to each new subscriber.
These runs stay inside 09:15-15:30 (or wholly after it), so no ``market_info`` of a status
change splits a connection in two. From the runs: the time from a connection's last frame to
the next one's first (drop to data flowing again), what was in flight when a drop cut it
(the tail the server sent that never arrived), and the exact ``gaps`` rows the ingest must
have written (it opens a gap at the feed's clock when a connection ends and closes it at the
clock of the next connection's first frame).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from procs import Proc, get_json, poll  # the e2e tests' process runner, shared

from pixity.bars import bars_from_ticks
from pixity.domain import Gap
from pixity.feeds.journal import read_journal
from pixity.feeds.upstox_wire import FrameKind, decode_frame
from pixity.markettime import from_epoch_ms, to_epoch_ms
from pixity.sample import SampleMarket
from pixity.stores.market import MarketReader, StoredGap
from pixity.stores.paths import StorePaths

__all__ = ["Proc", "get_json", "poll"]

KEYS = ("NSE_EQ|INE155A01022", "NSE_EQ|INE118H01025")
TOKEN = "network-test-token-5b2e"
DAY = "2025-06-02"
_URL = r"(ws://127\.0\.0\.1:(\d+)/v3/feed/market-data-feed)"


# ---------------------------------------------------------------- processes


@dataclass
class Exchange:
    proc: Proc
    url: str
    port: int
    stats_path: Path

    def stats(self) -> dict[str, Any]:
        """Return the server's counters (written every second and on exit)."""
        try:
            return dict(json.loads(self.stats_path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}  # not written yet, or caught mid-replace


def exchange(tmp: Path, name: str, *flags: str, port: int = 0) -> Exchange:
    """Start ``pixity feed-server`` (2 keys, seed 7) with ``flags``; wait until it listens."""
    stats = tmp / f"{name}-stats.json"
    proc = Proc(
        ["feed-server", "--symbols", *KEYS, "--port", str(port), "--seed", "7",
         "--data-dir", str(tmp / name), "--stats", str(stats), *flags],
        tmp / f"{name}.log",
    )  # fmt: skip
    match = proc.wait_for(_URL, timeout=60)
    return Exchange(proc, match.group(1), int(match.group(2)), stats)


def ingest(tmp: Path, url: str, data: Path, *flags: str, name: str = "ingest") -> tuple[Proc, str]:
    """Start ``pixity ingest`` on ``url``; return it and its health URL."""
    proc = Proc(
        ["ingest", "--feed", "upstox", "--feed-url", url, "--symbols", *KEYS,
         "--data-dir", str(data), "--health-port", "0", *flags],
        tmp / f"{name}.log",
        env={"UPSTOX_ACCESS_TOKEN": TOKEN},
    )  # fmt: skip
    return proc, proc.wait_for(r"(http://127\.0\.0\.1:\d+)/health", timeout=60).group(1)


def health(url: str) -> dict[str, Any]:
    """Return the ingest's ``/health`` report."""
    return dict(get_json(f"{url}/health"))


def wait_health(
    url: str, predicate: Any, timeout: float, what: str
) -> tuple[dict[str, Any], float]:
    """Poll ``/health`` until ``predicate(report)``; return the report and the seconds it took."""
    started = time.monotonic()
    report = poll(
        lambda: (r := health(url)) and predicate(r) and r, timeout=timeout, interval=0.1, what=what
    )
    return report, time.monotonic() - started


def system_health(data: Path, health_url: str) -> tuple[int, dict[str, Any], str]:
    """Run ``pixity health`` (``--json``, then the summary) on the ingest at ``health_url``."""
    port = health_url.rsplit(":", 1)[1]
    base = [
        sys.executable,
        "-m",
        "pixity",
        "health",
        "--data-dir",
        str(data),
        "--health-port",
        port,
    ]
    # Both at once: the state they are to show may not last long in a short run.
    runs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        for args in ([*base, "--json"], base)
    ]
    (as_json, _), (summary, _) = (run.communicate(timeout=60) for run in runs)
    return runs[0].returncode, dict(json.loads(as_json)), summary


def feed_clock(report: dict[str, Any]) -> datetime | None:
    clock = report.get("feed_clock")
    return None if clock is None else datetime.fromisoformat(clock)


def stop_all(*procs: Proc) -> None:
    """Stop processes after a failure, without hiding it."""
    for proc in procs:
        try:
            proc.stop(timeout=10)
        except AssertionError:
            pass


# ---------------------------------------------------------------- leaks


@dataclass(frozen=True)
class Usage:
    """What one process holds: threads, file descriptors, and inet sockets among them."""

    threads: int
    fds: int
    sockets: int

    def growth(self, later: Usage) -> dict[str, int]:
        return {
            "threads": later.threads - self.threads,
            "fds": later.fds - self.fds,
            "sockets": later.sockets - self.sockets,
        }


def usage(pid: int, samples: int = 5) -> Usage:
    """Return the least of a few samples of ``pid``'s threads, fds and sockets.

    The health server answers each request on a short-lived thread: the least of a few
    samples 0.1 s apart (nobody polling meanwhile) is the process's steady state.
    """
    proc = psutil.Process(pid)
    seen = []
    for _ in range(samples):
        seen.append((proc.num_threads(), proc.num_fds(), len(proc.net_connections(kind="inet"))))
        time.sleep(0.1)
    return Usage(*(min(column) for column in zip(*seen, strict=True)))


# ---------------------------------------------------------------- journals


@dataclass(frozen=True)
class Frame:
    payload: bytes
    at_ns: int  # received (ingest journal) or sent (server record), wall clock
    kind: FrameKind
    ts_ms: int


def frames(journal: Path) -> list[Frame]:
    """Return a journal's frames, decoded just enough (every frame here is well-formed)."""
    out = []
    for rec in read_journal(journal):
        frame = decode_frame(rec.payload)
        out.append(Frame(rec.payload, rec.received_ns, frame.kind, frame.current_ts_ms))
    return out


def connections(seq: Sequence[Frame]) -> list[list[Frame]]:
    """Split frames into connections: each one starts with its ``market_info``."""
    runs: list[list[Frame]] = []
    for frame in seq:
        if frame.kind is FrameKind.MARKET_INFO or not runs:
            runs.append([])
        runs[-1].append(frame)
    return runs


def pauses(runs: Sequence[Sequence[Frame]]) -> list[float]:
    """Return, per reconnection, the seconds from the last frame to the next first frame."""
    return [round((b[0].at_ns - a[-1].at_ns) / 1e9, 3) for a, b in itertools.pairwise(runs)]


def silences(seq: Sequence[Frame], over_s: float) -> list[tuple[float, int]]:
    """Return each wait between two frames longer than ``over_s``, with the index after it."""
    out = []
    for i in range(1, len(seq)):
        wait = (seq[i].at_ns - seq[i - 1].at_ns) / 1e9
        if wait > over_s:
            out.append((round(wait, 3), i))
    return out


def _second(ms: int) -> datetime:
    return from_epoch_ms(ms).replace(microsecond=0)


def expected_gap(seq: Sequence[Frame], after: int) -> tuple[datetime, datetime]:
    """Return the gap the ingest writes when the frame at ``after`` opens a new connection.

    Its start is the feed clock (the greatest ``currentTs`` so far) when the old connection
    ended; its end the clock once the new connection's first frame is seen; both to the second.
    """
    clock = max(f.ts_ms for f in seq[:after])
    return _second(clock), _second(max(clock, seq[after].ts_ms))


def in_flight(sent: list[Frame], got: list[Frame]) -> list[int]:
    """Check each connection received a prefix of what was sent on it; return the tails' sizes.

    TCP keeps order, so a drop can only lose what was sent last: the frames still in the
    server's socket buffers when it aborted the connection.
    """
    sent_runs, got_runs = connections(sent), connections(got)
    assert len(sent_runs) == len(got_runs), (len(sent_runs), len(got_runs))
    lost = []
    for i, (s, g) in enumerate(zip(sent_runs, got_runs, strict=True)):
        assert [f.payload for f in g] == [f.payload for f in s[: len(g)]], f"connection {i}"
        lost.append(len(s) - len(g))
    return lost


def ticks_in(seq: Sequence[Frame]) -> int:
    """Return how many trades the live_feed frames of ``seq`` carry."""
    count = 0
    for f in seq:
        if f.kind is FrameKind.LIVE_FEED:
            count += sum(
                q.ltp is not None and q.ltq is not None for q in decode_frame(f.payload).quotes
            )
    return count


def ingest_journal(data: Path) -> Path:
    return StorePaths(data).market.parent / "journal" / f"{DAY}.journal"


def stored_gaps(data: Path) -> list[StoredGap]:
    with MarketReader(StorePaths(data).market) as reader:
        return reader.gaps()


Trade = tuple[str, int, float, int]  # key, ltt ms, ltp, ltq


def trades(seq: Sequence[Frame], kind: FrameKind) -> set[Trade]:
    """Return the trades that ``kind`` frames of ``seq`` carry."""
    return {
        (q.key, q.ltt_ms, q.ltp, q.ltq)
        for f in seq
        if f.kind is kind
        for q in decode_frame(f.payload).quotes
        if q.ltp is not None and q.ltt_ms is not None and q.ltq is not None
    }


def account_ticks(data: Path, got: Sequence[Frame], gaps: Sequence[Gap]) -> dict[str, int]:
    """Check every trade of the day so far against the store; return the counts.

    - every trade received live is stored once, and nothing else is, but the last trade per
      key that a reconnection's ``initial_feed`` snapshot brings;
    - every stored trade is a trade of the seeded sample market the exchange serves;
    - a market trade that never arrived (queued or in flight at a drop) lies inside a gap
      (a gap's ends are cut to the second);
    - the stored closed bars are the bars of the stored ticks.
    """
    with MarketReader(StorePaths(data).market) as reader:
        ticks = reader.ticks()
        bars = [b for b in reader.bars_1m() if b.closed]
    stored = [(t.symbol, to_epoch_ms(t.ts), t.price, t.last_qty) for t in ticks]
    assert len(set(stored)) == len(stored)  # once each
    live, snap = trades(got, FrameKind.LIVE_FEED), trades(got, FrameKind.INITIAL_FEED)
    assert live <= set(stored) <= live | snap
    clock = max(f.ts_ms for f in got)
    day = from_epoch_ms(clock).date()
    market = {
        (t.symbol, to_epoch_ms(t.ts), t.price, t.last_qty)
        for t in SampleMarket(KEYS, seed=7).ticks(day)
        if to_epoch_ms(t.ts) <= clock
    }
    assert set(stored) <= market
    spans = [
        (to_epoch_ms(g.start), clock if g.end is None else to_epoch_ms(g.end) + 999) for g in gaps
    ]
    missing = market - set(stored)
    assert all(any(a <= ms <= b for a, b in spans) for _, ms, _, _ in missing), sorted(missing)
    rebuilt = {(b.symbol, b.ts): b for b in bars_from_ticks(ticks)}
    assert bars and [b for b in bars if rebuilt.get((b.symbol, b.ts)) != b] == []
    return {
        "market_trades": len(market),
        "stored": len(stored),
        "from_snapshots": len(set(stored) - live),
        "lost_in_gaps": len(missing),
        "closed_bars": len(bars),
    }
