"""Validation reasons, volume attribution and seq, through the pipeline's feed callbacks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ingest_support import OTHER, SYM, SYM2, T0, Harness, config, frame, quote, reader

from pixity.domain import Tick, tick_row
from pixity.errors import InvalidValueError
from pixity.feeds.upstox_trades import TradeEntry
from pixity.feeds.upstox_wire import Mode, Quote
from pixity.ingest.validate import MAX_QUANTITY, QuoteValidator, Reason
from pixity.markettime import from_epoch_ms, session_close, to_epoch_ms

S = timedelta(seconds=1)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(config(tmp_path))
    # One good trade first: a high water and a last trade to compare against.
    h.feed([frame(T0 + 5 * S, [quote(SYM, T0 + 4 * S, 100.0, 10, 1000)])])
    yield h
    h.stop()


CASES = [
    ("malformed_frame", [b"\x08\x99\x99garbage"]),
    ("unsubscribed_key", [frame(T0 + 6 * S, [quote(OTHER, T0 + 6 * S, 100.0)])]),
    ("bad_price", [frame(T0 + 6 * S, [quote(SYM, T0 + 6 * S, -1.0)])]),
    ("bad_price", [frame(T0 + 6 * S, [quote(SYM, T0 + 6 * S, float("nan"))])]),
    ("bad_price", [frame(T0 + 6 * S, [quote(SYM, T0 + 6 * S, float("inf"))])]),
    ("bad_quantity", [frame(T0 + 6 * S, [quote(SYM, T0 + 6 * S, 100.0, -5)], Mode.LTPC)]),
    ("outside_session", [frame(T0 + 6 * S, [quote(SYM, T0 - 60 * S, 100.0)])]),
    ("outside_session", [frame(T0 + 6 * S, [quote(SYM, T0 + 7 * timedelta(hours=1), 100.0)])]),
    ("outside_session", [frame(T0 + 6 * S, [quote(SYM, T0 - timedelta(days=1), 100.0)])]),
    ("duplicate", [frame(T0 + 6 * S, [quote(SYM, T0 + 4 * S, 100.0, 10, 1000)])]),
    (
        "late",
        [
            frame(T0 + 70 * S, [quote(SYM, T0 + 61 * S, 101.0, 5, 1100)]),
            frame(T0 + 71 * S, [quote(SYM, T0 + 30 * S, 99.0, 5, 1200)]),
        ],
    ),
]


@pytest.mark.parametrize(("reason", "frames"), CASES, ids=[c[0] for c in CASES])
def test_each_rejection_is_counted_by_reason(
    harness: Harness, tmp_path: Path, reason: str, frames: list[bytes]
) -> None:
    before = harness.health.ticks_total
    harness.feed(frames)
    harness.flush()
    report = harness.health.snapshot()
    assert report["ticks_rejected"] == {reason: 1}
    accepted = harness.health.ticks_total - before
    with reader(tmp_path) as r:
        assert r.count_ticks() == 1 + accepted


def test_quote_without_trade_is_not_a_rejection(harness: Harness) -> None:
    bare = Quote(key=SYM, ltp=None, ltt_ms=None, ltq=None, close_price=None)
    harness.feed([frame(T0 + 6 * S, [bare])])
    report = harness.health.snapshot()
    assert report["ticks_rejected"] == {}
    assert report["quotes_without_trade"] == 1


def test_aggregator_duplicate_inside_the_forming_bar(harness: Harness) -> None:
    a = quote(SYM, T0 + 5 * S, 100.5, 3, 1003)
    b = quote(SYM, T0 + 6 * S, 100.6, 4, 1007)
    harness.feed([frame(T0 + 7 * S, [a]), frame(T0 + 8 * S, [b]), frame(T0 + 9 * S, [a])])
    assert harness.health.snapshot()["ticks_rejected"] == {"duplicate": 1}


def test_volume_attribution_and_seq(tmp_path: Path) -> None:
    h = Harness(config(tmp_path))
    h.feed(
        [
            frame(T0 + 2 * S, [quote(SYM, T0 + 1 * S, 100.0, 10, 5000)]),  # first: ltq
            frame(T0 + 3 * S, [quote(SYM, T0 + 2 * S, 100.1, 10, 5030)]),  # rise: 30
            frame(T0 + 4 * S, [quote(SYM, T0 + 3 * S, 100.2, 7, 5020)]),  # not above: 0
            frame(T0 + 5 * S, [quote(SYM, T0 + 4 * S, 100.3, 8, None)], Mode.LTPC),  # ltq
            frame(T0 + 6 * S, [quote(SYM2, T0 + 5 * S, 50.0, 4, None)], Mode.LTPC),  # ltq
            frame(T0 + 7 * S, [quote(SYM, T0 + 6 * S, 100.4, 5, 5040)]),  # 5040-5030
        ]
    )
    h.flush()
    assert h.stop()
    with reader(tmp_path) as r:
        ticks = sorted(r.ticks(), key=lambda t: t.seq)
    assert [(t.symbol, t.volume) for t in ticks] == [
        (SYM, 10),
        (SYM, 30),
        (SYM, 0),
        (SYM, 8),
        (SYM2, 4),
        (SYM, 10),
    ]
    assert [t.seq for t in ticks] == list(range(6))


# ---------------------------------------------------------------- rows instead of Ticks


_OPEN_MS = to_epoch_ms(T0)
_CLOSE_MS = to_epoch_ms(session_close(T0.date()))


@st.composite
def entries(draw: st.DrawFn) -> TradeEntry:
    """Entries as a decoder gives them, good and bad (the values protobuf fields can hold)."""
    key = draw(st.sampled_from([SYM, SYM2, OTHER]))
    ltp = draw(st.one_of(st.none(), st.floats(allow_nan=True), st.sampled_from([0.05, 101.5])))
    ltt = draw(st.one_of(st.none(), st.integers(_OPEN_MS - 120_000, _CLOSE_MS + 120_000)))
    ltq = draw(st.one_of(st.none(), st.integers(-5, MAX_QUANTITY + 5)))
    vtt = draw(st.one_of(st.none(), st.integers(-5, MAX_QUANTITY + 5), st.integers(0, 2000)))
    return (key, ltp, ltt, ltq, vtt)


@given(st.lists(entries(), max_size=40))
@settings(max_examples=300, deadline=None)
def test_a_row_is_exactly_what_a_tick_holds_and_stores(stream: list[TradeEntry]) -> None:
    """The validator hands out rows, not Ticks: each must be a Tick's values, as stored."""
    validator = QuoteValidator([SYM, SYM2], T0.date(), trading_day=True)
    for entry in stream:
        result = validator.check(entry)
        if result is None or isinstance(result, Reason):
            continue
        symbol, ms, price, ltq, vtt, seq, volume = result
        tick = Tick(symbol=symbol, ts=from_epoch_ms(ms), price=price, last_qty=ltq,
                    cum_volume=vtt, volume=volume, seq=seq)  # fmt: skip
        assert tick_row(tick) == result
        assert (price.__class__, ltq.__class__, ms.__class__) == (float, int, int)
        validator.accept(result)


def test_a_value_no_decoder_gives_is_refused_not_stored() -> None:
    validator = QuoteValidator([SYM], T0.date(), trading_day=True)
    with pytest.raises(InvalidValueError, match="ltp 'x' is not a number"):
        validator.check((SYM, "x", _OPEN_MS, 1, None))  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="ltp True is not a number"):
        validator.check((SYM, True, _OPEN_MS, 1, None))  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match=r"ltt 1748835900000.0 is not an int"):
        validator.check((SYM, 100.0, float(_OPEN_MS), 1, None))  # type: ignore[arg-type]
    assert validator.check((SYM, 100, _OPEN_MS, 1, None)) == (SYM, _OPEN_MS, 100.0, 1, None, 0, 1)  # type: ignore[arg-type]
