"""One backtest day through the live session's core, fed only what can change something.

A live session (and the backtest's reference path) hands every 1m bar to ``SessionCore.apply``:
the bar's open and close go to ``PaperBroker.on_price``, the bar to the 15m resampler, and its
time to ``PaperBroker.on_time``. Most of that changes nothing but the broker's last prices:

- a price of a symbol with no open order fills nothing; it moves the day's P&L only if the
  symbol is held, and the P&L matters only against the daily loss limit;
- ``on_time`` before the square-off does nothing (after it, once it has flattened, again
  nothing).

So this path takes the day's 15m bars from NumPy (``pixity.barcolumns``) and hands each to
``SessionCore.on_bar_15m`` at the point of the day where the resampler would have closed it;
it calls ``on_price`` only for the prices of symbols with open orders, and for every price of
a held symbol from the minute where a bound on the day's P&L says the loss limit could be
reached; it calls ``on_time`` from the square-off on. Before anything reaches the broker, the
broker takes the last prices the skipped calls would have left it (``take_marks``), so each
call acts on the state the full path gives it: the same strategies, the same broker rules,
the same signals, orders, fills and equity curve. A test runs both paths and compares them.

Events are ordered as ``SessionCore.apply`` orders them, by a key ``(minute, symbol, step)``:
bars by (time, symbol); within one bar its open price (step 0), its close price (1), the 15m
bar it closes by arriving after that window (2), the 15m bar it closes as its window's last
minute (3), then the time (4). Windows no bar closes are closed by the clock at the end.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import datetime, timedelta

import numpy as np

from pixity.barcolumns import DayBars, Resampled, minute_starts, resample_day
from pixity.domain import Bar
from pixity.live.core import CLOSE_GRACE, SessionCore
from pixity.markettime import IST, SESSION_MINUTES, session_open

_STEPS = 8
_CLOSE_LATE, _CLOSE_LAST, _TIME = 2, 3, 4
_NEVER = 1 << 62
_LAST_MS = timedelta(seconds=59, microseconds=999_000)  # a 1m bar's close is seen at its end - 1ms
# Unrealised P&L is rounded to the paisa: a bound that clears the limit by more is safe.
_ROUNDING = 0.02
_RELATIVE = 1e-9


class FastDay:
    """Run one session day of ``core`` over ``bars``, ending at ``end`` (see the module).

    ``resampled`` may give ``resample_day(bars, minutes)`` already made (a session running to
    the close acts on all of them).
    """

    def __init__(
        self, core: SessionCore, bars: DayBars, end: datetime, resampled: Resampled | None = None
    ) -> None:
        self.core = core
        self.broker = core.broker
        self.bars = bars
        self.end = end
        self.ns = ns = max(len(bars.symbols), 1)
        self.step = ns * _STEPS  # keys per minute
        self.index = {symbol: i for i, symbol in enumerate(bars.symbols)}
        anchor = session_open(bars.day)
        until = (end - anchor) // timedelta(minutes=1)
        self.forming = until if 0 <= until < SESSION_MINUTES else -1
        self.closed_before = min(max(until, 0), SESSION_MINUTES)
        self.starts = minute_starts(bars.day)
        # Rows whose prices the session sees: the closed bars, and the open of a forming one.
        self.seen = bars.minute <= max(self.forming, self.closed_before - 1)
        first = np.full(SESSION_MINUTES + 1, ns, dtype=np.int64)
        np.minimum.at(first, bars.minute[self.seen], bars.symbol_index()[self.seen])
        self.first_symbol = first.tolist()  # per minute, the first symbol with a bar
        last_any = np.maximum.accumulate(np.where(first < ns, np.arange(len(first)), -1))
        self.previous = [-1, *last_any[:-1].tolist()]  # per minute, the last one before with a bar
        self.last_minute = int(last_any[-1])
        # The columns as lists: the loop looks up single values, which lists do fastest.
        self.bounds: list[int] = bars.bounds.tolist()
        self.minute: list[int] = bars.minute.tolist()
        self.open: list[float] = bars.open.tolist()
        self.close: list[float] = bars.close.tolist()
        self.seen_last = max(self.forming, self.closed_before - 1)  # the last minute seen
        self.day_low: list[float] = []
        self.day_high: list[float] = []
        if bars.rows:
            self.day_low = np.minimum.reduceat(bars.low, bars.bounds[:-1]).tolist()
            self.day_high = np.maximum.reduceat(bars.high, bars.bounds[:-1]).tolist()
        if resampled is None or self.closed_before < SESSION_MINUTES:
            resampled = resample_day(bars, core.config.timeframe_minutes, before=self.closed_before)
        self.keys, self.what, self.at_end = self._schedule(resampled)
        # What the loop knows of the broker.
        self.activity = (-1, -1)
        self.held: dict[int, tuple[float, float]] = {}  # symbol -> (a, b): P&L = a * price + b
        self.held_sorted: list[int] = []
        self.fed: set[int] = set()  # symbols with open orders: every price goes to on_price
        self.exact_from = _NEVER  # from this key every price of a held symbol goes to on_price
        self.next_of: dict[int, int] = {}  # symbol -> key of its next price for on_price
        self.next_key, self.next_symbol = _NEVER, -1
        self.marked: dict[int, float] = {}  # the broker's mark, per symbol
        self.synced = -1  # the key of the last sync
        self.key = -1  # the key of the 15m close being handled
        self.latest_code = -2  # the broker's latest price time, coded (see _latest)

    # ------------------------------------------------------------ building the day

    def _schedule(
        self, res: Resampled
    ) -> tuple[list[int], list[tuple[Bar, int] | datetime], list[tuple[Bar, int]]]:
        """Return the keys of the 15m closes and times in order, what each is, and the 15m
        bars the clock closes at the end (in the order it closes them)."""
        minutes, ns = res.minutes, self.ns
        sym, win, first, last = res.symbol, res.window, res.first, res.last
        same_next = np.zeros(len(sym), dtype=bool)
        same_next[:-1] = sym[1:] == sym[:-1]
        next_first = np.zeros(len(sym), dtype=np.int64)
        next_first[:-1] = first[1:]
        by_last = last == np.minimum((win + 1) * minutes, SESSION_MINUTES) - 1
        late = ~by_last & same_next
        keys = np.where(
            by_last, (last * ns + sym) * _STEPS + _CLOSE_LAST,
            (next_first * ns + sym) * _STEPS + _CLOSE_LATE,
        )  # fmt: skip
        # The end: apply() leaves the feed clock at end + grace (never before 09:00), and the
        # resampler closes every window that has ended by then.
        anchor = session_open(self.bars.day)
        clock = max(self.end + CLOSE_GRACE, anchor - timedelta(minutes=15))
        ended = (clock - CLOSE_GRACE - anchor) // timedelta(minutes=1)
        window_end = np.minimum((win + 1) * minutes, SESSION_MINUTES)
        by_clock = np.flatnonzero(~by_last & ~same_next & (window_end <= ended))
        bars = res.bars
        closing = by_last | late
        items: list[tuple[Bar, int] | datetime] = [
            (bars[g], s) for g, s in zip(np.flatnonzero(closing).tolist(), sym[closing].tolist(), strict=True)
        ]  # fmt: skip
        time_keys = []
        square_off = datetime.combine(self.bars.day, self.core.config.square_off, IST)
        for m in range(max((square_off - anchor) // timedelta(minutes=1), 0), self.last_minute + 1):
            s = self.first_symbol[m]
            if s < ns:
                time_keys.append(((m * ns + s) * _STEPS) + _TIME)
                items.append(self._open_time(m))
        # Keys are unique (one event per bar and step): sorting them orders the events.
        all_keys = np.concatenate((keys[closing], np.array(time_keys, dtype=np.int64)))
        order = np.argsort(all_keys, kind="stable")
        firsts = self.bars.minute[self.bars.bounds[:-1]].tolist() if self.bars.rows else []
        at_end = sorted(
            ((firsts[s], s, bars[g]) for g, s in zip(by_clock.tolist(), sym[by_clock].tolist(), strict=True)),
            key=lambda e: (e[0], e[1]),
        )  # fmt: skip
        ordered = [items[i] for i in order.tolist()]
        return all_keys[order].tolist(), ordered, [(b, s) for _f, s, b in at_end]

    def _open_time(self, m: int) -> datetime:
        return self.end if m == self.forming else self.starts[m]

    def _close_time(self, m: int) -> datetime:
        return self.end if m == self.forming else self.starts[m] + _LAST_MS

    def _close_of(self, row: int) -> float:
        """Return the price of row's second event: its close, or its open if forming."""
        return self.open[row] if self.minute[row] == self.forming else self.close[row]

    def _price_before(self, s: int, key: int) -> float | None:
        """Return the price of symbol ``s``'s last event before ``key``."""
        lo, hi, minutes = self.bounds[s], self.bounds[s + 1], self.minute
        if key == _NEVER:
            i = bisect_right(minutes, self.seen_last, lo, hi)
        else:
            m, rest = divmod(key, self.step)
            at, step = divmod(rest, _STEPS)
            if s < at or (s == at and step > 1):
                i = bisect_right(minutes, m, lo, hi)
            else:
                i = bisect_left(minutes, m, lo, hi)
                if s == at and step == 1 and i < hi and minutes[i] == m:
                    return self.open[i]
        return self._close_of(i - 1) if i > lo else None

    def _next_key(self, s: int, after: int) -> int:
        """Return the key of symbol ``s``'s first event after ``after``."""
        lo, hi, minutes = self.bounds[s], self.bounds[s + 1], self.minute
        m, rest = divmod(after, self.step)
        at, step = divmod(rest, _STEPS)
        if s > at:
            i = bisect_left(minutes, m, lo, hi)
        elif s < at or step > 0:
            i = bisect_right(minutes, m, lo, hi)
        else:  # right after this symbol's open at m comes its close
            i = bisect_left(minutes, m, lo, hi)
            if i < hi and minutes[i] == m:
                return after + 1
        if i < hi and minutes[i] <= self.seen_last:
            return (minutes[i] * self.ns + s) * _STEPS
        return _NEVER

    def _price_at(self, s: int, key: int) -> float:
        """Return the price of symbol ``s``'s event ``key``."""
        row = bisect_left(self.minute, key // self.step, self.bounds[s], self.bounds[s + 1])
        return self.open[row] if key % _STEPS == 0 else self._close_of(row)

    # ------------------------------------------------------------ the loop

    def run(self) -> None:
        """Run the day: prices, 15m closes and times in order, then what the end closes."""
        self.core.counts.bars_1m += int((self.bars.minute < self.closed_before).sum())
        self._refresh(-1)
        keys, what = self.keys, self.what
        broker, core = self.broker, self.core
        for key, item in zip(keys, what, strict=True):
            while self.next_key < key:
                self._price(self.next_symbol, self.next_key)
            if isinstance(item, datetime):
                self._sync(key)
                broker.on_time(item)
            else:
                self._sync(key)
                self.key = key
                core.on_bar_15m(item[0])
            if broker.activity != self.activity:
                self._refresh(key)
        while self.next_key < _NEVER:
            self._price(self.next_symbol, self.next_key)
        # As apply() ends: the feed clock moves to the end (+ grace) and closes what no bar did.
        clock = core.feed_clock
        if self.end + CLOSE_GRACE > clock.now():
            clock.set(self.end + CLOSE_GRACE)
        self.key = _NEVER
        for bar, _s in self.at_end:
            self._sync(_NEVER)
            core.on_bar_15m(bar)
            if broker.activity != self.activity:
                self._refresh(_NEVER)
        self._sync(_NEVER)
        broker.on_time(clock.now())

    def _price(self, s: int, key: int) -> None:
        """Hand the price event ``key`` of symbol ``s`` to ``on_price``."""
        self._sync(key)
        price = self._price_at(s, key)
        m = key // self.step
        ts = self._open_time(m) if key % _STEPS == 0 else self._close_time(m)
        self.broker.on_price(self.bars.symbols[s], price, ts)
        self.marked[s] = price
        if self.broker.activity != self.activity:
            self._refresh(key)
            return
        nxt = self._next_key(s, key if s in self.fed else max(key, self.exact_from - 1))
        if nxt == _NEVER:
            del self.next_of[s]
        else:
            self.next_of[s] = nxt
        self._next()

    def before_submit(self, symbol: str) -> None:
        """Give the broker the last price of ``symbol``, which it sizes a signal's entry on.

        Call it from the core's signal sink: the core submits each signal right after.
        """
        marks: dict[str, float] = {}
        self._mark(self.index[symbol], self.key, marks)
        if marks:
            self.broker.take_marks(marks, None)

    def _next(self) -> None:
        if self.next_of:
            self.next_symbol, self.next_key = min(self.next_of.items(), key=_second)
        else:
            self.next_symbol, self.next_key = -1, _NEVER

    # ------------------------------------------------------------ the broker's state

    def _sync(self, key: int) -> None:
        """Give the broker the marks and latest price time that the skipped prices before
        ``key`` would have left it."""
        marks: dict[str, float] = {}
        step, synced, held = self.step, self.synced, self.held_sorted
        minute = key // step
        same_minute = key != _NEVER and synced >= 0 and minute == synced // step
        if held:
            if not same_minute:
                touched = held
            else:  # only the symbols between the two keys had prices
                lo = bisect_left(held, synced % step // _STEPS)
                hi = bisect_right(held, key % step // _STEPS)
                touched = held[lo:hi]
            for s in touched:
                self._mark(s, key, marks)
        self.synced = key
        # Within a minute, once a bar of it was seen whole the latest time is its close.
        if not (same_minute and self.latest_code == 2 * minute + 1):
            code, latest = self._latest(key)
            if code != self.latest_code:
                self.latest_code = code
                self.broker.take_marks(marks, latest)
                return
        if marks:
            self.broker.take_marks(marks, None)

    def _mark(self, s: int, key: int, marks: dict[str, float]) -> None:
        price = self._price_before(s, key)
        if price is not None and self.marked.get(s) != price:
            self.marked[s] = price
            marks[self.bars.symbols[s]] = price

    def _latest(self, key: int) -> tuple[int, datetime | None]:
        """Return the time of the last price event before ``key``, with a code for it."""
        if key == _NEVER:
            m = self.last_minute
        else:
            m, rest = divmod(key, self.step)
            s, step = divmod(rest, _STEPS)
            if self.first_symbol[m] < s or step >= _CLOSE_LATE:
                pass  # some bar of this minute has been seen whole
            elif step == 1:
                return 2 * m, self._open_time(m)
            else:
                m = self.previous[m]
        return (2 * m + 1, self._close_time(m)) if m >= 0 else (-1, None)

    def _refresh(self, key: int) -> None:
        """Read the broker's open orders and positions; plan which prices it must see."""
        broker, index = self.broker, self.index
        self.activity = broker.activity
        self.fed = {index[o.symbol] for o in broker.open_orders() if o.symbol in index}
        held: dict[int, list[float]] = {}
        for p in broker.positions():
            if p.quantity and p.avg_price is not None and p.symbol in index:
                ab = held.setdefault(index[p.symbol], [0.0, 0.0])
                ab[0] += p.quantity
                ab[1] -= p.quantity * p.avg_price
        self.held = {s: (a, b) for s, (a, b) in held.items()}
        self.held_sorted = sorted(held)
        done = broker.killed or not held or key == _NEVER  # no kill to come, or no price
        self.exact_from = _NEVER if done else self._safe_until(key)
        self.next_of = {}
        for s in self.fed:
            self._plan(s, key)
        if self.exact_from != _NEVER:
            for s in self.held:
                self._plan(s, max(key, self.exact_from - 1))
        self._next()

    def _plan(self, s: int, after: int) -> None:
        nxt = self._next_key(s, after)
        if nxt != _NEVER and nxt < self.next_of.get(s, _NEVER):
            self.next_of[s] = nxt

    def _safe_until(self, key: int) -> int:
        """Return the first key where the day's P&L could reach the loss limit, as the book is.

        Until the next fill the P&L moves only with the held symbols' prices, each by
        ``a * price + b``: bounded below by its value at the day's extreme price (then, if
        that is not enough, minute by minute from ``key`` on).
        """
        realised, _unrealised, costs = self.broker.equity_point()
        limit = -self.core.config.max_daily_loss
        base = realised - costs
        worst, scale = base, abs(realised) + abs(costs)
        for s, (a, b) in self.held.items():
            lo, hi = self.day_low[s], self.day_high[s]
            worst += a * (lo if a > 0 else hi) + b
            scale += abs(a) * hi + abs(b)
        margin = _ROUNDING + _RELATIVE * scale
        if worst - margin > limit:
            return _NEVER
        return self._safe_by_minute(key, base, limit + margin)

    def _safe_by_minute(self, key: int, base: float, floor: float) -> int:
        m0 = max(key, 0) // self.step
        total = np.full(SESSION_MINUTES - m0, base)
        bars = self.bars
        for s, (a, b) in self.held.items():
            lo, hi = self.bounds[s], self.bounds[s + 1]
            minute = bars.minute[lo:hi]
            seen = minute <= self.seen_last
            minute = minute[seen]
            opens = bars.open[lo:hi][seen]
            closes = np.where(minute == self.forming, opens, bars.close[lo:hi][seen])
            base_key = (minute * self.ns + s) * _STEPS
            keys = np.concatenate((base_key, base_key + 1))
            values = a * np.concatenate((opens, closes)) + b
            later = keys > key
            worst = np.full(len(total), np.inf)
            np.minimum.at(worst, keys[later] // self.step - m0, values[later])
            now = self._price_before(s, key + 1)  # the mark now (the event at key included)
            start = np.inf if now is None else a * now + b
            total += np.minimum.accumulate(np.minimum(worst, start))
        unsafe = np.flatnonzero(total <= floor)
        if not len(unsafe):
            return _NEVER
        return max(key + 1, (m0 + int(unsafe[0])) * self.step)


def _second(item: tuple[int, int]) -> int:
    return item[1]
