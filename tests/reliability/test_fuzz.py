"""Bad input: mutated real frames through the decoder, the validator and the ingest; CSV fuzz.

The frames are what a real local exchange sent (``fuzz_support.record_frames``). 100,000
mutants (1,000,000 with ``PIXITY_SOAK=1``) go through ``decode_trades`` and the tick validator,
and as many through a real in-process ingest (journal, pipeline, flusher, market.db): nothing
may raise but the documented errors, no frame may take longer than ``FRAME_BOUND_S``, and
every input is accounted for (a tick, a rejection by reason, a quote without a trade).
"""

from __future__ import annotations

import itertools
import logging
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from fuzz_csv_support import KEY as CSV_KEY
from fuzz_csv_support import Export, copy_lake, exports, lake_snapshot, seeded_lake
from fuzz_support import (
    FULL_KEYS,
    KEYS,
    SOAK,
    TS_HARMLESS,
    UNSUBSCRIBED,
    LocalIngest,
    Timing,
    is_malformed,
    journaled_payloads,
    mutants,
    mutate_bytes,
    record_frames,
    routed,
    sent_ticks,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from upstox_client.feeder.proto import MarketDataFeedV3_pb2 as pb

from pixity.bars import bars_from_ticks
from pixity.errors import (
    CalendarRangeError,
    ConfigError,
    InvalidValueError,
    PixityError,
    Policy,
)
from pixity.feeds.upstox_trades import decode_trades
from pixity.feeds.upstox_wire import MalformedFrameError
from pixity.history.csv_import import import_csv
from pixity.history.validate import BadRowsError
from pixity.ingest.validate import MAX_QUANTITY, QuoteValidator, Reason
from pixity.markettime import IST, ist, to_epoch_ms
from pixity.stores import lake
from pixity.stores.lake import read_bars
from pixity.stores.market import MarketReader
from pixity.stores.paths import StorePaths

MUTANTS = 1_000_000 if SOAK else 100_000
FRAME_BOUND_S = 1.0  # no single frame may take longer, decoding, validating or ingesting
DAY = date(2025, 6, 2)


@pytest.fixture(autouse=True)
def quiet_malformed_frames(caplog: pytest.LogCaptureFixture) -> None:
    """Keep the ingest's warning per malformed frame out of the capture: a million of them
    held in memory made the test's own garbage collection pause for seconds."""
    caplog.set_level(logging.ERROR, logger="pixity.ingest.pipeline")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """Six market minutes of frames, as a real local exchange sent them."""
    frames = record_frames(tmp_path_factory.mktemp("corpus"), seconds=3.0)
    assert len(frames) > 300
    assert sum(bool(decode_trades(f).entries) for f in frames) > 200
    return frames


# ---------------------------------------------------------------- decoder + validator


def classify(validator: QuoteValidator, raw: bytes, counts: Counter[str]) -> None:
    """Decode and validate one frame the way the pipeline does, counting every outcome."""
    try:
        frame = decode_trades(raw)
    except MalformedFrameError:
        counts[Reason.MALFORMED_FRAME] += 1
        return
    counts["frames_decoded"] += 1
    for entry in frame.entries:
        counts["entries"] += 1
        try:
            result = validator.check(entry)
        except InvalidValueError:
            counts[Reason.INVALID_TICK] += 1
            continue
        if result is None:
            counts["quotes_without_trade"] += 1
        elif isinstance(result, Reason):
            counts[result] += 1
        else:
            validator.accept(result)
            counts["ticks"] += 1


@pytest.mark.timeout(300 if SOAK else 120)
def test_mutated_real_frames_through_decoder_and_validator(corpus: list[bytes]) -> None:
    validator = QuoteValidator(KEYS, DAY, trading_day=True)
    counts: Counter[str] = Counter()
    ops: Counter[str] = Counter()
    timing = Timing()
    started = time.perf_counter()
    for op, raw in mutants(corpus, MUTANTS, seed=3):
        ops[op.split("+")[0]] += 1
        t0 = time.perf_counter()
        classify(validator, raw, counts)  # anything but the documented outcomes raises here
        timing.add(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    print(
        f"\nfuzz decoder+validator: {MUTANTS} mutants in {elapsed:.1f} s, worst frame "
        f"{timing.worst() * 1e3:.2f} ms, p99.9 {timing.quantile(0.999) * 1e6:.0f} us; "
        f"{dict(counts)}; ops {dict(ops)}"
    )
    assert timing.worst() < FRAME_BOUND_S
    # Every frame is decoded or refused; every entry of a decoded frame is a tick, a rejection
    # by reason, or a quote without a trade.
    assert counts[Reason.MALFORMED_FRAME] + counts["frames_decoded"] == MUTANTS
    outcomes = [
        "ticks",
        "quotes_without_trade",
        *[r for r in Reason if r is not Reason.MALFORMED_FRAME],
    ]
    assert sum(counts[k] for k in outcomes) == counts["entries"]
    # The mutants reach past the decoder into every check of the validator.
    for reason in (
        Reason.UNSUBSCRIBED_KEY, Reason.BAD_PRICE, Reason.BAD_QUANTITY, Reason.OUTSIDE_SESSION,
        Reason.DUPLICATE,
    ):  # fmt: skip
        assert counts[reason] > 0, reason
    assert counts[Reason.MALFORMED_FRAME] > MUTANTS // 4
    assert counts["ticks"] > MUTANTS // 20


@st.composite
def mutated(draw: st.DrawFn, corpus: Sequence[bytes]) -> bytes:
    raw = draw(st.sampled_from(corpus))
    if draw(st.booleans()):
        return draw(st.binary(max_size=512))
    cut = draw(st.integers(0, len(raw)))
    at = draw(st.integers(0, len(raw)))
    insert = draw(st.binary(max_size=24))
    return raw[:at] + insert + raw[at:cut] if at <= cut else raw[:cut] + insert + raw[at:]


def test_hypothesis_bytes_and_cut_real_frames_get_documented_outcomes(corpus: list[bytes]) -> None:
    @given(st.lists(mutated(corpus), min_size=1, max_size=20))
    @settings(
        max_examples=2000 if SOAK else 200,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    def check(frames: list[bytes]) -> None:
        validator = QuoteValidator(KEYS, DAY, trading_day=True)
        counts: Counter[str] = Counter()
        for raw in frames:
            classify(validator, raw, counts)
        assert counts[Reason.MALFORMED_FRAME] + counts["frames_decoded"] == len(frames)

    check()


# ---------------------------------------------------------------- through a real ingest


def run_segment(data_dir: Path, frames: Sequence[bytes], timing: Timing) -> Counter[str]:
    """Feed ``frames`` to a fresh in-process ingest; check its accounting and its store."""
    ingest = LocalIngest(data_dir)
    fed: list[bytes] = []
    stops: Counter[str] = Counter()
    for i, raw in enumerate(frames):
        t0 = time.perf_counter()
        try:
            ingest.pipeline.on_frame(raw, time.time_ns())
        except PixityError as exc:
            # The documented stop: a stamp on a day the NSE calendar does not know. It must
            # come before the frame moved anything (the fuzz then goes on, as after a restart).
            assert isinstance(exc, CalendarRangeError) and exc.policy is Policy.STOP, exc
            stops[type(exc).__name__] += 1
        else:
            fed.append(raw)
        timing.add(time.perf_counter() - t0)
        if i % 250 == 0:
            ingest.pipeline.pump()
    ingest.flush()
    report = ingest.health.snapshot()
    assert ingest.stop()
    # Accounting: each fed frame is counted once; a journaled (routed) frame's entries are
    # each a tick, a rejection or a quote without a trade; an unrouted frame (before the
    # first stamp, or of a day already rolled over) counts its trades as outside_session.
    went = routed(fed, journaled_payloads(data_dir))
    expected: Counter[str] = Counter()
    for raw, in_journal in zip(fed, went, strict=True):
        try:
            entries = decode_trades(raw).entries
        except MalformedFrameError:
            expected["malformed"] += 1
            continue
        expected["entries"] += (
            len(entries)
            if in_journal
            else sum(e[1] is not None and e[2] is not None for e in entries)
        )
    rejected = report["ticks_rejected"]
    assert report["frames_total"] == len(fed)
    assert rejected.get(Reason.MALFORMED_FRAME, 0) == expected["malformed"]
    others = sum(n for reason, n in rejected.items() if reason != Reason.MALFORMED_FRAME)
    assert report["ticks_total"] + others + report["quotes_without_trade"] == expected["entries"]
    assert report["flush_failures"] == 0 and "fatal_error" not in report
    # Whatever came in, what was stored is consistent: every accepted tick is in market.db or
    # (a day rolled over) in the lake, and market.db's closed bars are its ticks' bars.
    with MarketReader(StorePaths(data_dir).market) as reader:
        ticks, closed = reader.ticks(), reader.bars_1m(closed_only=True)
    in_lake = len(lake.read_ticks(data_dir))
    assert len(ticks) + in_lake == report["ticks_total"]
    rebuilt = {(b.symbol, b.ts): b for b in bars_from_ticks(ticks)}
    assert [b for b in closed if rebuilt.get((b.symbol, b.ts)) != b] == []
    out = Counter({k: v for k, v in rejected.items()})
    out.update(
        frames=len(frames), ticks=report["ticks_total"], rolled_over=int(in_lake > 0), **stops
    )
    return out


@pytest.mark.slow
@pytest.mark.timeout(1200 if SOAK else 180)
def test_mutated_real_frames_through_a_real_ingest(corpus: list[bytes], tmp_path: Path) -> None:
    """Each pass over the corpus goes to a fresh ingest, so the session runs forward once.

    Field mutants here carry no stamp that ends the day: a well-formed frame stamped the next
    day is the exchange saying the day is over, and the ingest rolls over as it must (byte
    mutants can still do it now and then; the accounting holds either way).
    """
    stream = (raw for _, raw in mutants(corpus, MUTANTS, seed=5, stamps=TS_HARMLESS))
    timing = Timing()
    totals: Counter[str] = Counter()
    started = time.perf_counter()
    for n in range(-(-MUTANTS // len(corpus))):
        # Each segment opens its day with a real frame, as a feed does.
        segment = [corpus[0], *itertools.islice(stream, len(corpus))]
        totals.update(run_segment(tmp_path / f"seg{n}", segment, timing))
        shutil.rmtree(tmp_path / f"seg{n}")
    elapsed = time.perf_counter() - started
    print(
        f"\nfuzz ingest: {totals['frames']} frames in {elapsed:.1f} s, worst frame "
        f"{timing.worst() * 1e3:.1f} ms, p99.9 {timing.quantile(0.999) * 1e6:.0f} us; "
        f"{dict(totals)}"
    )
    assert timing.worst() < FRAME_BOUND_S
    assert totals[Reason.MALFORMED_FRAME] > MUTANTS // 4 and totals["ticks"] > MUTANTS // 20


# ---------------------------------------------------------------- good frames among garbage


def poisoned(raw: bytes, how: str) -> tuple[bytes, Reason, int]:
    """Return ``raw`` with every entry spoiled the same way, the reason and how many entries."""
    m = pb.FeedResponse()
    m.ParseFromString(raw)
    keys = sorted(m.feeds)
    if how == "key":  # each entry under a key of its own that nobody subscribed
        out = pb.FeedResponse(type=m.type, currentTs=m.currentTs)
        for i, key in enumerate(keys):
            out.feeds[f"{UNSUBSCRIBED[:-1]}{i}"].CopyFrom(m.feeds[key])
        return bytes(out.SerializeToString()), Reason.UNSUBSCRIBED_KEY, len(keys)
    for i, key in enumerate(keys):
        feed = m.feeds[key]
        ltpc = feed.fullFeed.marketFF.ltpc if key in FULL_KEYS else feed.ltpc
        if how == "price":
            ltpc.ltp = float("nan") if i % 2 else -ltpc.ltp
        elif how == "quantity":
            ltpc.ltq = -1 if i % 2 else MAX_QUANTITY + 1
        elif how == "session":
            ltpc.ltt = to_epoch_ms(ist(2025, 6, 2, 8, 59))
    reason = {
        "price": Reason.BAD_PRICE,
        "quantity": Reason.BAD_QUANTITY,
        "session": Reason.OUTSIDE_SESSION,
    }[how]
    return bytes(m.SerializeToString()), reason, len(keys)


def garbage_after(raw: bytes, rng_draw: int, corpus: Sequence[bytes]) -> tuple[bytes, Counter[str]]:
    """Return one frame of garbage to send after good frame ``raw``, and what it must count."""
    rng = random.Random(rng_draw)
    kind = rng.choice(("bytes", "bytes", "key", "price", "quantity", "session", "stamp"))
    has_entries = bool(decode_trades(raw).entries)
    if kind in ("key", "price", "quantity", "session") and has_entries:
        bad, reason, n = poisoned(raw, kind)
        return bad, Counter({reason: n})
    if kind == "stamp":
        m = pb.FeedResponse()
        m.ParseFromString(raw)
        m.currentTs = rng.choice((-1, 2**62, 2**63 - 1))
        return bytes(m.SerializeToString()), Counter({Reason.MALFORMED_FRAME: 1})
    while True:  # a byte mutant the decoder refuses
        _, bad = mutate_bytes(rng, raw, corpus)
        if is_malformed(bad):
            return bad, Counter({Reason.MALFORMED_FRAME: 1})


def test_good_frames_among_garbage_store_exactly_their_bars(
    corpus: list[bytes], tmp_path: Path
) -> None:
    stream: list[bytes] = []
    expected: Counter[str] = Counter()
    for i, raw in enumerate(corpus):
        stream.append(raw)
        for j in range(3):  # three frames of garbage after every good one
            bad, counts = garbage_after(raw, i * 3 + j, corpus)
            stream.append(bad)
            expected.update(counts)
    ingest = LocalIngest(tmp_path / "data")
    for i, raw in enumerate(stream):
        ingest.pipeline.on_frame(raw, time.time_ns())
        if i % 100 == 0:
            ingest.pipeline.pump()
    ingest.flush()
    report = ingest.health.snapshot()
    assert ingest.stop()
    # Every garbage frame is counted, by its reason; the good frames are refused nothing.
    assert report["ticks_rejected"] == dict(expected)
    assert report["frames_total"] == len(stream)
    good = sent_ticks(corpus)
    assert report["ticks_total"] == len(good) > 500
    with MarketReader(StorePaths(tmp_path / "data").market) as reader:
        ticks, bars = reader.ticks(), reader.bars_1m()
    trade = lambda t: (t.symbol, t.ts, t.price, t.last_qty, t.cum_volume, t.volume)  # noqa: E731
    assert sorted(map(trade, ticks)) == sorted(map(trade, good))
    # The bars are the bars of the good frames' trades, minute for minute; only each key's
    # last minute is still forming.
    expected_bars = bars_from_ticks(good)
    assert len(expected_bars) >= 4 * 5
    assert sorted((replace(b, closed=True) for b in bars), key=lambda b: (b.symbol, b.ts)) == (
        expected_bars
    )
    assert sum(not b.closed for b in bars) <= len(KEYS)
    print(
        f"\ngood among garbage: {len(corpus)} good frames, {len(stream) - len(corpus)} garbage, "
        f"{len(good)} ticks, {len(bars)} bars; rejected {dict(report['ticks_rejected'])}"
    )


# ---------------------------------------------------------------- a stamp past the calendar


def test_a_stamp_past_the_calendar_stops_before_the_frame_moves_anything(
    corpus: list[bytes], tmp_path: Path
) -> None:
    """Such a frame used to roll the session over first, so a restart found the day ended."""
    ingest = LocalIngest(tmp_path / "data")
    good = [raw for raw in corpus if decode_trades(raw).entries]
    for raw in good[:50]:
        ingest.pipeline.on_frame(raw, time.time_ns())
    day, position, clock = (
        ingest.pipeline.day,
        ingest.pipeline.day.journal.position,
        ingest.pipeline.live_clock.ms,
    )
    m = pb.FeedResponse()
    m.ParseFromString(good[50])
    m.currentTs = to_epoch_ms(ist(2200, 1, 1, 10, 0))
    with pytest.raises(CalendarRangeError) as raised:
        ingest.pipeline.on_frame(bytes(m.SerializeToString()), time.time_ns())
    assert raised.value.policy is Policy.STOP
    assert ingest.pipeline.day is day and day.journal.position == position
    assert ingest.pipeline.live_clock.ms == clock
    for raw in good[50:]:
        ingest.pipeline.on_frame(raw, time.time_ns())
    ingest.flush()
    report = ingest.health.snapshot()
    assert ingest.stop()
    assert report["session_date"] == DAY.isoformat() and report["last_rollover"] is None
    assert report["ticks_total"] == len(sent_ticks(good))
    assert journaled_payloads(tmp_path / "data") == good


# ---------------------------------------------------------------- the CSV importer

CSV_EXAMPLES = 1000 if SOAK else 100
CSV_SETTINGS = settings(
    max_examples=CSV_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def lake_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake that already holds bars of the key on two days, one of which imports replace."""
    return seeded_lake(tmp_path_factory.mktemp("lake") / "data")


def lake_rows(data_dir: Path) -> set[tuple[object, ...]]:
    frame = read_bars(data_dir, [CSV_KEY])
    return {
        (ts.to_pydatetime(), o, h, lo, c, int(v))
        for ts, o, h, lo, c, v in zip(
            frame["bar_ts"], frame["open"], frame["high"], frame["low"], frame["close"],
            frame["volume"], strict=True,
        )
    }  # fmt: skip


def import_file(path: Path, data_dir: Path, skip_bad: bool = False):  # type: ignore[no-untyped-def]
    return import_csv(path, symbol=CSV_KEY, data_dir=data_dir, naive_tz=IST, skip_bad=skip_bad)


def test_csv_exports_import_their_good_rows_or_name_every_bad_line(lake_template: Path) -> None:
    outcomes: Counter[str] = Counter()

    @given(export=exports(), skip_bad=st.booleans())
    @CSV_SETTINGS
    def check(export: Export, skip_bad: bool) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            data = copy_lake(lake_template, Path(tmp) / "data")
            before, rows_before = lake_snapshot(data), lake_rows(data)
            path = Path(tmp) / "export.csv"
            path.write_bytes(export.data)
            good, bad = export.good, export.bad_lines
            if bad and (not skip_bad or not good):
                with pytest.raises(BadRowsError) as raised:
                    import_file(path, data, skip_bad)
                assert [row.line for row in raised.value.bad] == bad
                assert lake_snapshot(data) == before  # nothing half-written
                outcomes["refused"] += 1
                return
            summary = import_file(path, data, skip_bad)
            assert summary.written == len(good)
            assert [row.line for row in summary.skipped] == bad
            imported = {bar[0].date() for bar in (r.bar for r in good) if bar}
            kept = {r for r in rows_before if r[0].date() not in imported}
            assert lake_rows(data) == kept | {r.bar for r in good}
            outcomes["skipped bad rows" if bad else "imported"] += 1

    check()
    print(f"\ncsv exports: {dict(outcomes)}")
    assert outcomes["refused"] and outcomes["imported"], outcomes


tokens = st.sampled_from(
    ["timestamp", "open", "high", "low", "close", "volume", "oi", "date", "time",
     "2025-06-02 09:15", "2025-06-02T09:16:00+05:30", "100.5", "101", "99", "-1", "nan",
     "1e400", "12", '"', '""', "\x00", "\r", ";", "\t", " ", "é", "\ufeff", "₹",
     "9999-12-31T23:59:00-05:00", "0001-01-01T00:00+14:00", "9" * 5000]
)  # fmt: skip
csv_text = st.tuples(
    st.sampled_from(
        ["timestamp,open,high,low,close,volume\n", "Date,Time,Open,High,Low,Close,Volume\n", ""]
    ),
    st.lists(st.lists(tokens | st.text(max_size=6), max_size=8).map(",".join), max_size=25),
).map(lambda parts: parts[0] + "\n".join(parts[1]))
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1", "cp1252")


def check_refused_or_clean(raw: bytes, lake_template: Path) -> str:
    """Import ``raw``: a clean import, or a clear error with nothing written; return which."""
    with tempfile.TemporaryDirectory() as tmp:
        data = copy_lake(lake_template, Path(tmp) / "data")
        before = lake_snapshot(data)
        path = Path(tmp) / "export.csv"
        path.write_bytes(raw)
        try:
            summary = import_file(path, data)
        except BadRowsError as exc:
            lines = len(raw.splitlines()) + 1
            assert exc.bad and all(2 <= row.line <= lines for row in exc.bad), exc.bad
            outcome = "bad rows"
        except (ConfigError, InvalidValueError) as exc:
            assert str(path) in str(exc)  # the message says which file
            outcome = type(exc).__name__
        else:
            assert summary.written > 0 and len(lake_rows(data)) >= summary.written
            return "imported"
        assert lake_snapshot(data) == before  # nothing half-written
        return outcome


def test_any_bytes_or_text_in_any_encoding_import_cleanly_or_fail_clearly(
    lake_template: Path,
) -> None:
    outcomes: Counter[str] = Counter()

    @given(
        raw=st.binary(max_size=3000)
        | st.tuples(csv_text, st.sampled_from(ENCODINGS)).map(
            lambda te: te[0].encode(te[1], errors="replace")
        )
    )
    @CSV_SETTINGS
    def check(raw: bytes) -> None:
        outcomes[check_refused_or_clean(raw, lake_template)] += 1

    check()
    print(f"\ncsv bytes and text: {dict(outcomes)}")
    assert outcomes["InvalidValueError"] > 0, outcomes  # how many reach the rows varies


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"])
def test_a_good_export_in_another_encoding_is_refused_whole(
    encoding: str, lake_template: Path
) -> None:
    text = "timestamp,open,high,low,close,volume\n2025-06-02 09:15,100,101,99,100.5,10\n"
    raw = (text + "2025-06-02 09:16,100,101,99,100.5,10 # é\n").encode(encoding)
    assert check_refused_or_clean(raw, lake_template) == "InvalidValueError"


def test_a_field_past_the_csv_limit_is_refused_with_its_line(lake_template: Path) -> None:
    text = "timestamp,open,high,low,close,volume\n2025-06-02 09:15,100,101,99,100.5,10\n"
    raw = (text + "2025-06-02 09:16," + "1" * 200_000 + ",101,99,100.5,10\n").encode()
    assert check_refused_or_clean(raw, lake_template) == "InvalidValueError"
