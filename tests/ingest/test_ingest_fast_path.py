"""The per-tick path's fast case (``Pipeline._quotes``) does what the three calls it fuses do.

``ThreeCalls`` handles every quote by ``check``, ``on_trade`` and ``accept``, as the pipeline
did before the common case was spelled out; both are fed the same frames of quotes, good and
bad (duplicates of both kinds, out-of-order and late prints, values of every wrong type and
range), with the clock closing bars between frames. After every frame they must agree on
everything a quote can move: the rows, the bars (closed and forming), every count, the
validator's state and the clock's bound.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st
from ingest_support import OTHER, SYM, SYM2, T0

from pixity.bars import REJECTED_OUTCOMES
from pixity.domain import TickRow
from pixity.errors import InvalidValueError
from pixity.feeds.upstox_trades import TradeEntry
from pixity.ingest.config import IngestConfig
from pixity.ingest.day import SessionDay
from pixity.ingest.health import IngestHealth
from pixity.ingest.pipeline import _MINUTE_MS, Pipeline
from pixity.ingest.validate import MAX_QUANTITY, Reason
from pixity.markettime import session_close, to_epoch_ms

_OPEN_MS = to_epoch_ms(T0)
_CLOSE_MS = to_epoch_ms(session_close(T0.date()))


class ThreeCalls(Pipeline):
    """The pipeline with every quote taken by ``check``, ``on_trade`` and ``accept``."""

    def _quotes(self, day: SessionDay, entries: tuple[TradeEntry, ...]) -> None:
        validator, bars, health = day.validator, day.bars, self.health
        due, grace = self._close_due_ms, self._grace_ms
        try:
            for entry in entries:
                try:
                    result = validator.check(entry)
                except InvalidValueError:
                    health.reject(Reason.INVALID_TICK)
                    continue
                if result is None:
                    health.quotes_without_trade += 1
                    continue
                if isinstance(result, Reason):
                    health.reject(result)
                    continue
                row = cast(TickRow, result)
                outcome = bars.on_trade(row)
                due = min(due, (row[1] // _MINUTE_MS + 1) * _MINUTE_MS + grace)
                if outcome in REJECTED_OUTCOMES:
                    health.reject(outcome.value)
                    continue
                validator.accept(row)
                self.pending.ticks.append(row)
                self._touched.add(row[0])
                self._last_tick_ms = row[1]
        finally:
            self._close_due_ms = due


class _NoFlusher:
    """Nothing is handed over in these tests."""

    queued_ticks = 0


def _pipeline(kind: type[Pipeline], root: Path) -> tuple[Pipeline, SessionDay]:
    config = IngestConfig(data_dir=root / kind.__name__, symbols=(SYM, SYM2))
    pipeline = kind(config, IngestHealth(), cast(Any, _NoFlusher()))
    day = SessionDay(
        T0.date(),
        journal_dir=root / kind.__name__,
        symbols=config.symbols,
        grace=config.grace,
        on_bar=pipeline.pending.add_bar,
    )
    day.reset(pipeline.clock)
    pipeline.day = day
    return pipeline, day


def _seen(pipeline: Pipeline, day: SessionDay) -> dict[str, Any]:
    validator, bars, health = day.validator, day.bars, pipeline.health
    _symbols, last_trade, high_water = validator.trade_state()
    return {
        "rows": list(pipeline.pending.ticks),
        "bars": dict(pipeline.pending.bars),
        "forming": bars.forming(),
        "bar counts": {str(k): v for k, v in bars.counts.items() if v},
        "rejected": {str(k): v for k, v in health.rejected.items() if v},
        "without trade": health.quotes_without_trade,
        "next seq": validator.next_seq,
        "last trade": dict(last_trade),
        "high water": dict(high_water),
        "touched": set(pipeline._touched),
        "due": pipeline._close_due_ms,
        "last tick": pipeline._last_tick_ms,
    }


# A few minutes of prints, most inside a forming bar, some in closed ones (late), a few
# outside the session; values of the wrong type or range now and then.
_TIME = st.one_of(
    st.integers(_OPEN_MS, _OPEN_MS + 4 * _MINUTE_MS),
    st.integers(_OPEN_MS + 4 * _MINUTE_MS, _OPEN_MS + 4 * _MINUTE_MS + 2),
    st.sampled_from([_OPEN_MS - 1, _CLOSE_MS - 1, _CLOSE_MS]),
)
_PRICE = st.one_of(
    st.sampled_from([100.0, 100.5, 99.5, 101.25]),
    st.sampled_from([0.0, -1.0, float("nan"), float("inf"), None, 100, True]),
)
_QTY = st.one_of(
    st.integers(0, 50), st.sampled_from([None, -1, MAX_QUANTITY, MAX_QUANTITY + 1, 5.0, True])
)
_VTT = st.one_of(
    st.none(), st.integers(0, 2_000), st.sampled_from([-1, MAX_QUANTITY + 1, 10.0, False])
)
_ENTRY = st.tuples(
    st.sampled_from([SYM, SYM, SYM2, OTHER]),
    _PRICE,
    st.one_of(_TIME, st.sampled_from([None, float(_OPEN_MS + 1), True])),
    _QTY,
    _VTT,
)


@st.composite
def _frames(draw: st.DrawFn) -> list[tuple[list[TradeEntry], int]]:
    """Frames of entries (some repeating an earlier entry), each with a clock reading after it."""
    frames: list[tuple[list[TradeEntry], int]] = []
    earlier: list[TradeEntry] = []
    clock = _OPEN_MS
    for _ in range(draw(st.integers(1, 8))):
        entries: list[TradeEntry] = []
        for _ in range(draw(st.integers(0, 12))):
            if earlier and draw(st.integers(0, 4)) == 0:
                entry = draw(st.sampled_from(earlier))  # a repeat: a duplicate or a late one
            else:
                entry = cast(TradeEntry, draw(_ENTRY))
            entries.append(entry)
            earlier.append(entry)
        clock += draw(st.integers(0, 90_000))
        frames.append((entries, clock))
    return frames


@given(_frames())
@settings(max_examples=400, deadline=None)
def test_the_fast_case_does_what_check_on_trade_and_accept_do(
    frames: list[tuple[list[TradeEntry], int]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fast, fast_day = _pipeline(Pipeline, Path(tmp))
        slow, slow_day = _pipeline(ThreeCalls, Path(tmp))
        try:
            for entries, clock in frames:
                for pipeline, day in ((fast, fast_day), (slow, slow_day)):
                    pipeline._quotes(day, tuple(entries))
                    pipeline.clock.observe(clock)
                    pipeline._close_bars_by_clock(day)
                assert _seen(fast, fast_day) == _seen(slow, slow_day)
        finally:
            fast_day.close()
            slow_day.close()


def test_the_fast_case_is_taken_and_counts_like_the_calls(tmp_path: Path) -> None:
    """A bar's worth of ordinary prints: one routed call, the rest in the fast case."""
    fast, day = _pipeline(Pipeline, tmp_path)
    calls = {"check": 0}
    check = day.validator.check

    def counted(entry: TradeEntry) -> Any:
        calls["check"] += 1
        return check(entry)

    day.validator.check = counted  # type: ignore[method-assign]
    second = timedelta(seconds=1) // timedelta(milliseconds=1)
    entries = [(SYM, 100.0 + i, _OPEN_MS + i * second, 1, 10 * (i + 1)) for i in range(30)]
    entries.insert(5, entries[4])  # a duplicate of the last trade
    entries.insert(12, (SYM, 99.0, _OPEN_MS + 3 * second, 2, 5))  # out of order, vtt below
    fast._quotes(day, tuple(entries))
    day.close()
    assert calls["check"] == 1  # only the first print: it starts the bar
    assert day.bars.counts["accepted"] == 30
    assert day.bars.counts["out_of_order"] == 1
    assert fast.health.rejected == {"duplicate": 1}
    assert [row[5] for row in fast.pending.ticks] == list(range(31))
    assert fast.pending.ticks[11][6] == 0  # out of order (the duplicate is not a row): vtt counted
    (bar,) = day.bars.forming()
    assert (bar.open, bar.close, bar.low, bar.high) == (100.0, 129.0, 99.0, 129.0)
    assert bar.volume == 1 + 300 - 10 and bar.tick_count == 31  # ltq first, then vtt
