"""Network faults between a real ``pixity feed-server`` and a real ``pixity ingest`` at 60x.

- Drops: the server aborts every TCP connection (no close frame) every 30 s for several
  minutes (every 7 s, 4 times, in ``make test``). Each time the ingest must be receiving
  again within its backoff's bound, write one ``gaps`` row with the exact start and end,
  lose nothing but what was in flight, and hold no more threads or sockets than before.
- Stalls: the server sends nothing for 90 s while the market is open (9 s against a 3 s
  ``--no-data-timeout`` in ``make test``). The watchdog must report it in /health, recycle
  the connection, write a gap, and health must be ok again once data flows. The same stall
  after the close must not count as a fault.
- A black hole: the server accepts and never answers, first without completing the
  websocket handshake, then completing it and sending nothing, not even a pong. The ingest
  must time out, count it, keep retrying with backoff, say so in /health, and recover once
  a working server is back on the port, without a thread or socket more than before.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from network_support import (
    KEYS,
    TOKEN,
    Exchange,
    account_ticks,
    connections,
    exchange,
    expected_gap,
    feed_clock,
    frames,
    health,
    in_flight,
    ingest,
    ingest_journal,
    pauses,
    poll,
    silences,
    stop_all,
    stored_gaps,
    system_health,
    ticks_in,
    usage,
    wait_health,
)
from suite import SOAK, record

from pixity.cli import build_parser
from pixity.feeds.secret import Secret
from pixity.feeds.upstox_config import UpstoxFeedConfig
from pixity.health.ingest import INGEST_REASONS
from pixity.markettime import ist

TIMEOUT = pytest.mark.timeout(900 if SOAK else 180)
SPEED = 60
START = ("--speed", str(SPEED), "--start", "2025-06-02 09:15")
# The adapter's own settings, as `pixity ingest` runs it without connection flags.
DEFAULTS = UpstoxFeedConfig(keys=KEYS, token=Secret(TOKEN))
# Detecting a drop, connecting, subscribing and the first frame, on 2 loaded cores.
MARGIN_S = 2.0


def test_connection_flags_default_to_the_adapters_own_settings() -> None:
    args = build_parser().parse_args(["ingest", "--symbols", KEYS[0]])
    assert args.no_data_timeout == DEFAULTS.silence_s == 60.0  # issue 3: 60 s of silence
    assert args.open_timeout == DEFAULTS.open_timeout_s
    assert args.backoff_max == DEFAULTS.backoff_max_s


# ---------------------------------------------------------------- drops

DROP_EVERY_S = 30.0 if SOAK else 7.0
DROPS = 8 if SOAK else 4


@pytest.mark.slow
@pytest.mark.serial  # bounds on reconnect and recovery times
@TIMEOUT
def test_drops_reconnect_within_the_backoff_bound_and_record_a_gap_each(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sent_path = tmp_path / "sent.journal"
    fs = exchange(
        tmp_path, "fs", *START, "--drop-every", str(DROP_EVERY_S), "--record", str(sent_path)
    )
    proc, url = ingest(tmp_path, fs.url, data)
    # Every connection but the first outlives the stable window (drops come DROP_EVERY_S
    # apart), so it resets the backoff: the wait is at most backoff_initial_s. The first may
    # not (the ingest connects late in the first period): then it is the attempt-1 bound.
    assert DROP_EVERY_S > DEFAULTS.stable_s + 1
    bound = min(DEFAULTS.backoff_max_s, 2 * DEFAULTS.backoff_initial_s) + MARGIN_S
    try:
        wait_health(url, lambda r: r["reconnects"] >= 1 and r["feed_connected"], 60, "warm-up")
        time.sleep(0.5)
        before = usage(proc.popen.pid)
        wait_health(
            url,
            lambda r: r["reconnects"] >= DROPS and r["feed_connected"],
            DROPS * DROP_EVERY_S + 30,
            f"{DROPS} reconnections",
        )
        time.sleep(0.5)
        after = usage(proc.popen.pid)
        assert fs.proc.popen.poll() is None and proc.popen.poll() is None  # nobody died
        during = health(url)
    except BaseException:
        stop_all(fs.proc, proc)
        raise
    # Stop the exchange first (a close frame: nothing more in flight), then the ingest.
    assert fs.proc.stop() == 0
    wait_health(url, lambda r: not r["feed_connected"], 20, "the final disconnect")
    final = health(url)
    assert proc.stop() == 0
    drops = fs.stats()["drops"]

    got = frames(ingest_journal(data))
    runs = connections(got)
    waits = pauses(runs)
    assert max(waits) <= bound, (waits, bound)
    assert len(runs) == drops + 1 >= DROPS + 1, (len(runs), drops)
    lost = in_flight(frames(sent_path), got)
    assert lost[-1] == 0  # the clean close at the end loses nothing
    # One gap per drop, at exactly the feed clock of the connection's end and of the next
    # one's first frame; then the final disconnection's, still open.
    gaps = [g.gap for g in stored_gaps(data)]
    firsts = [sum(len(r) for r in runs[: i + 1]) for i in range(drops)]
    assert [(g.start, g.end) for g in gaps[:-1]] == [expected_gap(got, i) for i in firsts]
    assert gaps[-1].end is None and gaps[-1].start == expected_gap(got, len(got) - 1)[1]
    assert all("without a close frame" in g.reason for g in gaps[:-1]), gaps
    counts = account_ticks(data, got, gaps)
    assert during["feed_counts"]["connect_failures"] == 0  # each reconnection's first try worked
    assert final["reconnects"] >= drops
    growth = before.growth(after)
    assert growth["threads"] <= 2 and growth["fds"] <= 1 and growth["sockets"] <= 0, growth
    record(
        tmp_path,
        "network_drops",
        {
            "drop_every_s": DROP_EVERY_S,
            "drops": drops,
            "reconnect_s_min": min(waits),
            "reconnect_s_max": max(waits),
            "reconnect_bound_s": bound,
            "gaps": len(gaps),
            "frames_in_flight_lost": lost[:-1],
            "ticks_in_flight_lost": ticks_in(frames(sent_path)) - ticks_in(got),
            **counts,
            "reconnects": during["reconnects"],
            "usage_before": before.__dict__,
            "usage_after": after.__dict__,
        },
    )


# ---------------------------------------------------------------- stalls

STALL_FOR_S = 90.0 if SOAK else 9.0
STALL_EVERY_S = 120.0 if SOAK else 18.0  # the first stall starts STALL_EVERY_S - STALL_FOR_S in
STALLS = 2 if SOAK else 1
NO_DATA_S = DEFAULTS.silence_s if SOAK else 3.0  # make test: crossed more than once per stall
WATCH_PERIOD_S = min(NO_DATA_S / 4, 1.0)  # how often the watchdog looks


@pytest.mark.slow
@pytest.mark.serial  # bounds on reconnect and recovery times
@TIMEOUT
def test_stall_while_open_is_reported_recycled_and_recovered_and_after_close_is_normal(
    tmp_path: Path,
) -> None:
    stall = ("--stall-every", str(STALL_EVERY_S), "--stall-for", str(STALL_FOR_S))
    flags = () if SOAK else ("--no-data-timeout", str(NO_DATA_S))
    open_fs = exchange(tmp_path, "fs-open", *START, *stall)
    closed_fs = exchange(
        tmp_path, "fs-closed", "--speed", str(SPEED), "--start", "2025-06-02 15:40", *stall
    )
    open_data, closed_data = tmp_path / "open", tmp_path / "closed"
    open_in, open_url = ingest(tmp_path, open_fs.url, open_data, *flags, name="ingest-open")
    closed_in, closed_url = ingest(
        tmp_path, closed_fs.url, closed_data, *flags, name="ingest-closed"
    )
    procs = (open_fs.proc, closed_fs.proc, open_in, closed_in)
    seen: dict[str, set[str]] = {"open": set(), "closed": set()}
    closed_reasons: set[str] = set()
    closed_status: set[str] = set()
    silent_at: list[float] = []
    ok_at: list[float] = []
    try:
        for where in (open_url, closed_url):
            wait_health(where, lambda r: r["feed_connected"] and r["watchdog"], 60, "connected")
        for n in range(STALLS):
            # Through the stall and the recovery, each ingest's health is watched.
            def watch(n: int = n) -> bool:
                report, other = health(open_url), health(closed_url)
                seen["open"].add(str(report["watchdog"]))
                seen["closed"].add(str(other["watchdog"]))
                closed_reasons.update(other["reasons"])
                closed_status.add(other["status"])
                silent = report["watchdog"] == "silent"
                if silent and len(silent_at) == n:
                    assert report["status"] == "degraded" and "watchdog_silent" in report["reasons"]
                    silent_at.append(time.time())
                    if n == 0:  # and `pixity health` says so too
                        code, whole, summary = system_health(open_data, open_url)
                        assert code == 1 and whole["watchdog"] == "silent", whole
                        assert INGEST_REASONS["watchdog_silent"] in whole["reasons"]
                        assert "watchdog silent" in summary.splitlines()[1], summary
                if len(silent_at) > n and report["status"] == "ok" and not silent:
                    ok_at.append(time.time())
                    return True
                return False

            poll(watch, timeout=STALL_EVERY_S + 30, interval=0.1, what=f"stall {n} and recovery")
        open_report, closed_report = health(open_url), health(closed_url)
        assert all(p.popen.poll() is None for p in procs)
    except BaseException:
        stop_all(*procs)
        raise
    for fs in (open_fs, closed_fs):
        assert fs.proc.stop() == 0
    for proc in (open_in, closed_in):
        assert proc.stop() == 0
    stalls = open_fs.stats()["stalls"]

    got = frames(ingest_journal(open_data))
    waits = silences(got, STALL_FOR_S / 2)
    assert len(waits) == STALLS, waits
    reported, recovered, gap_s = [], [], []
    gaps = [g.gap for g in stored_gaps(open_data)]
    for n, (silence, after) in enumerate(waits):
        assert STALL_FOR_S - 1 <= silence <= STALL_FOR_S + MARGIN_S + 1, silence
        reported.append(round(silent_at[n] - got[after - 1].at_ns / 1e9, 2))
        recovered.append(round(ok_at[n] - got[after].at_ns / 1e9, 2))
        # One gap per stall (the recycles inside it keep its start), opened at the last
        # frame's clock and closed at the first frame's after the stall.
        assert (gaps[n].start, gaps[n].end) == expected_gap(got, after)
        assert gaps[n].reason.startswith("watchdog"), gaps[n]
        gap_s.append((gaps[n].end - gaps[n].start).total_seconds())
        assert 0 < gap_s[-1] <= (silence + 1) * SPEED  # the sim clock ran during the stall
    # Not before the threshold; within it plus the watchdog's period and the polling.
    assert all(NO_DATA_S - 0.2 <= r <= NO_DATA_S + WATCH_PERIOD_S + 1.5 for r in reported), reported
    assert all(r <= 3.0 for r in recovered), recovered
    assert len(gaps) == STALLS + 1 and gaps[-1].end is None  # + the exchange's stop
    assert open_report["feed_counts"]["watchdog_recycles"] >= STALLS
    assert {"ok", "silent"} <= seen["open"]
    check_open = len(connections(got))  # one run before each stall, one after
    assert check_open == STALLS + 1
    # After the close the same silence is expected: reported as such, never as a fault.
    assert "silent" not in seen["closed"] and "idle-market" in seen["closed"], seen
    assert closed_status == {"ok"} and closed_reasons == set(), closed_reasons
    assert closed_report["feed_counts"]["watchdog_recycles"] == 0
    assert closed_report["reconnects"] == 0 and closed_fs.stats()["stalls"] >= STALLS
    assert stored_gaps(closed_data)[0].gap.reason.startswith("closed with code 1001")
    record(
        tmp_path,
        "network_stalls",
        {
            "stall_for_s": STALL_FOR_S,
            "no_data_timeout_s": NO_DATA_S,
            "stalls": stalls,
            "silence_s": [w for w, _ in waits],
            "reported_after_s": reported,
            "recovered_after_s": recovered,
            "gap_market_s": gap_s,
            "watchdog_recycles": open_report["feed_counts"]["watchdog_recycles"],
            "watchdog_states_open": sorted(seen["open"]),
            "watchdog_states_closed": sorted(seen["closed"]),
            "closed_market_status": sorted(closed_status),
        },
    )


# ---------------------------------------------------------------- a black hole

HOLE_TRIES = 3 if SOAK else 2
# make test shortens every wait; the full run keeps the adapter's defaults (10 s, 60 s, 30 s).
HOLE_FLAGS = () if SOAK else ("--open-timeout", "2", "--no-data-timeout", "3", "--backoff-max", "2")
HOLE_OPEN_S = DEFAULTS.open_timeout_s if SOAK else 2.0
HOLE_BACKOFF_S = DEFAULTS.backoff_max_s if SOAK else 2.0


def swap(old: Exchange, tmp: Path, name: str, *flags: str) -> Exchange:
    """Stop ``old`` and start another exchange on its port."""
    assert old.proc.stop() == 0
    return exchange(tmp, name, *flags, port=old.port)


@pytest.mark.slow
@pytest.mark.serial  # bounds on reconnect and recovery times
@TIMEOUT
def test_black_hole_times_out_is_reported_and_recovers_on_the_same_port(tmp_path: Path) -> None:
    data = tmp_path / "data"
    fs = exchange(tmp_path, "fs-a", *START)
    proc, url = ingest(tmp_path, fs.url, data, *HOLE_FLAGS)
    figures: dict[str, object] = {"tries": HOLE_TRIES, "open_timeout_s": HOLE_OPEN_S}
    try:
        report, _ = wait_health(
            url,
            lambda r: r["status"] == "ok" and (c := feed_clock(r)) and c >= ist(2025, 6, 2, 9, 17),
            60,
            "healthy at 09:17",
        )
        before = usage(proc.popen.pid)
        # 1. Accepted, never answered: the opening handshake times out, again and again.
        fs = swap(fs, tmp_path, "fs-accept", *START, "--black-hole", "accept")
        base = health(url)["feed_counts"]["connect_failures"]
        poll(
            lambda: fs.stats().get("black_hole_connections", 0) > HOLE_TRIES,
            timeout=HOLE_TRIES * (HOLE_OPEN_S + HOLE_BACKOFF_S) + 20,
            what=f"{HOLE_TRIES} timed-out openings",
        )
        report = health(url)
        assert report["status"] == "degraded" and "feed_disconnected" in report["reasons"]
        assert not report["feed_connected"]
        assert report["feed_counts"]["connect_failures"] - base >= HOLE_TRIES
        assert f"timed out after {HOLE_OPEN_S}s opening the feed" in report["feed_error"]
        figures["accept"] = {
            "connections": fs.stats()["black_hole_connections"],
            "connect_failures": report["feed_counts"]["connect_failures"] - base,
            "feed_error": report["feed_error"],
        }
        # 2. The handshake completes, then silence: no data and no pongs.
        fs = swap(fs, tmp_path, "fs-handshake", *START, "--black-hole", "handshake")
        base = health(url)
        errors: set[str] = set()
        watchdogs: set[str] = set()
        reasons: set[str] = set()

        def given_up() -> bool:
            report = health(url)
            errors.add(str(report.get("feed_error")))
            watchdogs.add(str(report["watchdog"]))
            reasons.update(report["reasons"])
            return fs.stats().get("black_hole_handshakes", 0) > HOLE_TRIES

        poll(
            given_up,
            timeout=HOLE_TRIES * (NO_DATA_S + 20 + HOLE_BACKOFF_S) + 20,
            interval=0.2,
            what="hang",
        )
        report = health(url)
        recycles = (
            report["feed_counts"]["watchdog_recycles"] - base["feed_counts"]["watchdog_recycles"]
        )
        if SOAK:  # keepalive (10 s + 10 s) answers before the 60 s watchdog
            assert any("keepalive ping timeout" in e for e in errors), errors
        else:  # the 3 s watchdog answers before keepalive
            assert recycles >= HOLE_TRIES and "silent" in watchdogs, (recycles, watchdogs)
        assert report["reconnects"] - base["reconnects"] >= HOLE_TRIES
        figures["handshake"] = {
            "handshakes": fs.stats()["black_hole_handshakes"],
            "watchdog_recycles": recycles,
            "watchdog_states": sorted(watchdogs),
            "health_reasons": sorted(reasons),
            "feed_errors": sorted(e for e in errors if e != "None"),
        }
        # 3. A working exchange on the same port, later in the day: back within the backoff.
        clock = feed_clock(health(url))
        assert clock is not None
        resume = clock.replace(second=0, microsecond=0) + timedelta(minutes=2)
        fs = swap(
            fs, tmp_path, "fs-c", "--speed", str(SPEED), "--start", f"{resume:%Y-%m-%d %H:%M}"
        )
        started = time.monotonic()  # it listens: the ingest's next try is at most a backoff away
        report, _ = wait_health(
            url,
            lambda r: r["status"] == "ok" and (c := feed_clock(r)) and c >= resume,
            HOLE_BACKOFF_S + 30,
            "recovery",
        )
        back = time.monotonic() - started
        assert back <= HOLE_BACKOFF_S + MARGIN_S, back
        wait_health(
            url, lambda r: (c := feed_clock(r)) and c >= resume + timedelta(minutes=1), 30, "data"
        )
        after = usage(proc.popen.pid)
        final = health(url)
    except BaseException:
        stop_all(fs.proc, proc)
        raise
    assert fs.proc.stop() == 0
    assert proc.stop() == 0
    gaps = [g.gap for g in stored_gaps(data)]
    # One gap from the first exchange's stop to the working one's first frame, however many
    # attempts failed in between; then the last stop's, still open.
    assert len(gaps) == 2 and gaps[0].end == resume and gaps[1].end is None, gaps
    assert "1001" in gaps[0].reason
    growth = before.growth(after)
    assert growth["threads"] <= 2 and growth["fds"] <= 1 and growth["sockets"] <= 0, growth
    figures.update(
        recovered_s=round(back, 2),
        gap=[gaps[0].start.isoformat(), gaps[0].end.isoformat()],
        reconnects=final["reconnects"],
        connect_failures=final["feed_counts"]["connect_failures"],
        usage_before=before.__dict__,
        usage_after=after.__dict__,
    )
    record(tmp_path, "network_black_hole", figures)
