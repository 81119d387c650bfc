"""A deterministic, seeded sample market: NSE-like ticks for any trading day.

Tests, research notebooks and the demo use it; nothing is downloaded.

How a symbol's day is made:

- a *daily path* of opens and closes runs from the calendar's first day: the close reverts
  slowly to the symbol's base price, days are calm or volatile (a regime that switches), and
  each open gaps from the previous close, usually a little, sometimes by 1-4 %;
- the *intraday path* is a Brownian bridge from that open to that close on a one-second
  grid, its variance U-shaped through the day and raised in volatile spells;
- *trades* arrive as a Poisson process per minute whose rate is U-shaped too, so the open
  and close are busy; an illiquid symbol has quiet minutes with no trade, hence no bar;
- a trade's price is the path plus a little bid-ask noise, rounded to the 0.05 tick.

Determinism: every draw comes from a generator seeded by SHA-256 of (seed, symbol, purpose,
day or block), never Python's ``hash()``, so (seed, symbol, day) gives the same trades
whatever else was generated and in whatever order. ``seq`` numbers the merged ticks of all
the market's symbols in time order, so it depends on the set of symbols. Streams are
NumPy's ``Generator``/PCG64: identical across machines for one NumPy version.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from pixity.bars import bars_from_ticks
from pixity.domain import Bar, Tick, attributed_volume, check_symbol
from pixity.errors import InvalidValueError
from pixity.frames import frame_from_bars, frame_from_ticks
from pixity.markettime import SESSION_MINUTES, nse_calendar, require_aware, session_open, to_ist

log = logging.getLogger(__name__)

TICK_SIZE = 0.05
_TICKS_PER_RUPEE = 20  # 1 / TICK_SIZE: prices are kept as whole ticks, then k / 20
_SECONDS = SESSION_MINUTES * 60

# Daily path. Volatilities are of log returns; reversion is the daily pull toward the base.
_BLOCK_DAYS = 250  # draws come in blocks so a later calendar only appends blocks
_CALM_VOL, _VOLATILE_VOL = 0.011, 0.024
_P_TO_VOLATILE, _P_TO_CALM = 0.06, 0.25
_GAP_DAY_P = 0.06
_GAP_MIN, _GAP_MAX = 0.01, 0.04
_OVERNIGHT_VOL = 0.002
_REVERSION = 0.004

# Intraday.
_SPELL_START = {False: 0.015, True: 0.04}  # per minute, calm day vs volatile day
_SPELL_END = {False: 0.08, True: 0.04}
_SPELL_VOL = 2.0  # volatility multiplier in a volatile spell
_SPELL_ACTIVITY = 1.6  # trade-rate multiplier in a volatile spell
_PRICE_NOISE_TICKS = 0.3  # bid-ask bounce, in ticks
_MEDIAN_NOTIONAL = 20_000.0  # rupees per trade
_HIDDEN_P = 0.2  # share of ticks whose vtt also counts trades between snapshots


def _u_shapes() -> tuple[np.ndarray, np.ndarray]:
    """Return per-minute trade-rate and variance shapes, each with mean 1."""
    m = np.arange(SESSION_MINUTES, dtype=np.float64)
    x = (m + 0.5) / SESSION_MINUTES
    to_close = SESSION_MINUTES - 1 - m
    activity = 0.55 + 1.5 * (2 * x - 1) ** 2 + 1.6 * np.exp(-m / 10) + 0.9 * np.exp(-to_close / 12)
    variance = 0.5 + (2 * x - 1) ** 2 + 2.0 * np.exp(-m / 15) + 0.5 * np.exp(-to_close / 15)
    return activity / activity.mean(), variance / variance.mean()


_ACTIVITY, _VARIANCE = _u_shapes()


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolProfile:
    """What sets a symbol apart: the price it reverts to and its mean trades per minute."""

    base_price: float
    ticks_per_minute: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.base_price) or self.base_price < 1:
            raise InvalidValueError(f"base_price {self.base_price!r} must be finite and >= 1")
        if not math.isfinite(self.ticks_per_minute) or not 0 < self.ticks_per_minute <= 500:
            raise InvalidValueError(
                f"ticks_per_minute {self.ticks_per_minute!r} must be in (0, 500]"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class DayPlan:
    """A symbol's day on the daily path: price levels before tick rounding and noise."""

    symbol: str
    day: date
    prev_close: float
    open: float
    close: float
    gap: float  # open / prev_close - 1
    gap_day: bool  # an overnight gap of 1-4 %, not the usual drift
    volatile: bool


def default_profile(symbol: str, seed: int = 7) -> SymbolProfile:
    """Return the profile a symbol gets unless given one: base 100-3000; 3 in 4 are liquid."""
    rng = _rng(seed, symbol, "profile")
    base = math.exp(rng.uniform(math.log(100), math.log(3000)))
    liquid = rng.random() < 0.75
    tpm = rng.uniform(15, 35) if liquid else rng.uniform(2, 5)
    return SymbolProfile(
        base_price=round(base * _TICKS_PER_RUPEE) / _TICKS_PER_RUPEE, ticks_per_minute=tpm
    )


class SampleMarket:
    """Seeded NSE-like ticks and 1m bars for ``symbols`` on any trading day.

    ``SampleMarket(["NSE_EQ|INE155A01022"], seed=7).bars_1m(date(2024, 1, 2))``.
    ``profiles`` overrides the default profile of some symbols (an illiquid one for a test).
    """

    def __init__(
        self,
        symbols: Sequence[str],
        seed: int = 7,
        *,
        profiles: Mapping[str, SymbolProfile] | None = None,
    ) -> None:
        if isinstance(symbols, str) or not symbols:
            raise InvalidValueError("a sample market needs a non-empty sequence of symbols")
        if len(set(symbols)) != len(symbols):
            raise InvalidValueError(f"symbols {list(symbols)} has duplicates")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InvalidValueError(f"seed {seed!r} must be an int")
        self.symbols: tuple[str, ...] = tuple(check_symbol(s) for s in symbols)
        self.seed = seed
        given = dict(profiles or {})
        unknown = set(given) - set(self.symbols)
        if unknown:
            raise InvalidValueError(f"profiles for symbols not in the market: {sorted(unknown)}")
        self.profiles: dict[str, SymbolProfile] = {
            s: given.get(s) or default_profile(s, seed) for s in self.symbols
        }

    def __repr__(self) -> str:
        return f"SampleMarket({list(self.symbols)!r}, seed={self.seed})"

    def day_plan(self, symbol: str, day: date) -> DayPlan:
        """Return ``symbol``'s open, close, gap and regime on trading day ``day``."""
        _check_trading_day(day)
        path = _daily_path(self.seed, symbol, self.profiles[symbol].base_price)
        return path.plan(symbol, day)

    def ticks(self, day: date) -> list[Tick]:
        """Return every symbol's ticks on trading day ``day``, merged in time order."""
        _check_trading_day(day)
        per_symbol = [
            _symbol_day(self.seed, s, self.profiles[s], self.day_plan(s, day)) for s in self.symbols
        ]
        return _merge(self.symbols, per_symbol, session_open(day))

    def iter_ticks(self, start: datetime, end: datetime) -> Iterator[Tick]:
        """Yield the ticks with ``start <= ts < end``, day by day, in time order."""
        require_aware(start, "start")
        require_aware(end, "end")
        if end <= start:
            return
        days = nse_calendar().trading_days(to_ist(start).date(), to_ist(end).date())
        for day in days:
            for tick in self.ticks(day):
                if start <= tick.ts < end:
                    yield tick

    def bars_1m(self, day: date) -> list[Bar]:
        """Return the closed 1m bars of ``day`` built from its ticks, by (symbol, time)."""
        return bars_from_ticks(self.ticks(day), minutes=1)

    def bars_frame(self, days: Iterable[date]) -> pd.DataFrame:
        """Return the 1m bars of ``days`` as a frame with the lake's columns, by (symbol, bar_ts)."""
        bars = [bar for day in days for bar in self.bars_1m(day)]
        frame = frame_from_bars(bars)
        return frame.sort_values(["symbol", "bar_ts"], kind="stable").reset_index(drop=True)

    def ticks_frame(self, day: date) -> pd.DataFrame:
        """Return ``day``'s ticks as a frame with the ``ticks`` table's columns."""
        return frame_from_ticks(self.ticks(day))


# ---------------------------------------------------------------- randomness


def _rng(seed: int, symbol: str, purpose: str, part: str | int = "") -> np.random.Generator:
    """Return a generator seeded from a stable digest of what it is for."""
    key = json.dumps([seed, symbol, purpose, part]).encode()
    digest = hashlib.sha256(key).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


# ---------------------------------------------------------------- daily path


@functools.cache
def _calendar_days() -> tuple[tuple[date, ...], dict[date, int]]:
    cal = nse_calendar()
    days = tuple(cal.trading_days(cal.first_day, cal.last_day))
    return days, {d: i for i, d in enumerate(days)}


def _check_trading_day(day: date) -> None:
    if not isinstance(day, date) or isinstance(day, datetime):
        raise InvalidValueError(f"day {day!r} must be a date")
    if not nse_calendar().is_trading_day(day):
        raise InvalidValueError(f"{day} is not an NSE trading day")


@dataclass(frozen=True, slots=True)
class _DailyPath:
    log_open: np.ndarray
    log_close: np.ndarray
    gap_day: np.ndarray
    volatile: np.ndarray
    base_log: float

    def plan(self, symbol: str, day: date) -> DayPlan:
        i = _calendar_days()[1][day]
        prev = self.log_close[i - 1] if i else self.base_log
        return DayPlan(
            symbol=symbol,
            day=day,
            prev_close=math.exp(prev),
            open=math.exp(self.log_open[i]),
            close=math.exp(self.log_close[i]),
            gap=math.expm1(self.log_open[i] - prev),
            gap_day=bool(self.gap_day[i]),
            volatile=bool(self.volatile[i]),
        )


def _daily_draws(seed: int, symbol: str, block: int) -> np.ndarray:
    """Return one block's draws: regime uniform, gap-day uniform, gap size, two normals."""
    rng = _rng(seed, symbol, "daily", block)
    u = rng.random((3, _BLOCK_DAYS))
    z = rng.standard_normal((2, _BLOCK_DAYS))
    return np.vstack([u, z])


@functools.lru_cache(maxsize=512)
def _daily_path(seed: int, symbol: str, base_price: float) -> _DailyPath:
    """Return the symbol's opens and closes over the whole calendar (cached)."""
    n = len(_calendar_days()[0])
    blocks = -(-n // _BLOCK_DAYS)
    draws = np.hstack([_daily_draws(seed, symbol, b) for b in range(blocks)])[:, :n]
    u_regime, u_gap, u_size, z_gap, z_ret = draws
    volatile = np.zeros(n, dtype=bool)
    gap_day = u_gap < _GAP_DAY_P
    sign = np.where(z_gap >= 0, 1.0, -1.0)
    big_gap = sign * (_GAP_MIN + (_GAP_MAX - _GAP_MIN) * u_size)
    gaps = np.where(gap_day, big_gap, _OVERNIGHT_VOL * z_gap)
    log_open, log_close = np.empty(n), np.empty(n)
    base_log = math.log(base_price)
    prev, state = base_log, False
    # Sequential by nature (regime chain, reversion); ~5000 steps take a few milliseconds.
    for i in range(n):
        state = bool(u_regime[i] < (1 - _P_TO_CALM if state else _P_TO_VOLATILE))
        volatile[i] = state
        sigma = _VOLATILE_VOL if state else _CALM_VOL
        log_open[i] = prev + gaps[i]
        drift = -_REVERSION * (log_open[i] - base_log)
        prev = log_close[i] = log_open[i] + drift + sigma * z_ret[i]
    return _DailyPath(log_open, log_close, gap_day, volatile, base_log)


# ---------------------------------------------------------------- one symbol, one day


@dataclass(frozen=True, slots=True)
class _SymbolTicks:
    ms: np.ndarray  # milliseconds after 09:15, sorted
    price_ticks: np.ndarray  # price in whole ticks
    qty: np.ndarray
    cum: np.ndarray


def _volatile_minutes(rng: np.random.Generator, volatile_day: bool) -> np.ndarray:
    """Return which minutes fall in a volatile spell (a two-state Markov chain)."""
    u = rng.random(SESSION_MINUTES)
    start, end = _SPELL_START[volatile_day], _SPELL_END[volatile_day]
    spell = np.zeros(SESSION_MINUTES, dtype=bool)
    state = bool(u[0] < (0.5 if volatile_day else 0.1))
    for m in range(SESSION_MINUTES):
        if m:
            state = bool(u[m] >= end) if state else bool(u[m] < start)
        spell[m] = state
    return spell


def _bridge(rng: np.random.Generator, plan: DayPlan, spell: np.ndarray) -> np.ndarray:
    """Return the log price at the end of each second: a bridge from open to close."""
    sigma = _VOLATILE_VOL if plan.volatile else _CALM_VOL
    per_minute = _VARIANCE * np.where(spell, _SPELL_VOL**2, 1.0)
    var = np.repeat(per_minute, 60)
    var *= sigma**2 / var.sum()
    clock = np.cumsum(var) / var.sum()  # variance time, 0 -> 1
    walk = np.cumsum(np.sqrt(var) * rng.standard_normal(_SECONDS))
    lo, lc = math.log(plan.open), math.log(plan.close)
    result: np.ndarray = lo + (lc - lo) * clock + walk - clock * walk[-1]
    return result


def _symbol_day(seed: int, symbol: str, profile: SymbolProfile, plan: DayPlan) -> _SymbolTicks:
    """Return one symbol's trades on one day; draws depend on (seed, symbol, day) only."""
    rng = _rng(seed, symbol, "intraday", plan.day.isoformat())
    spell = _volatile_minutes(rng, plan.volatile)
    day_activity = math.exp(rng.normal(0.0, 0.25)) * (1.3 if plan.volatile else 1.0)
    rate = profile.ticks_per_minute * _ACTIVITY * np.where(spell, _SPELL_ACTIVITY, 1.0)
    counts = rng.poisson(rate * day_activity)
    n = int(counts.sum())
    ms = np.repeat(np.arange(SESSION_MINUTES, dtype=np.int64) * 60_000, counts)
    ms = np.sort(ms + rng.integers(0, 60_000, n))
    log_price = _bridge(rng, plan, spell)[ms // 1000]
    noisy = np.exp(log_price) * _TICKS_PER_RUPEE + rng.normal(0.0, _PRICE_NOISE_TICKS, n)
    price_ticks = np.maximum(np.rint(noisy), 1).astype(np.int64)
    median_qty = max(1.0, _MEDIAN_NOTIONAL / plan.open)
    qty = np.maximum(np.rint(median_qty * np.exp(rng.normal(0.0, 1.0, n))), 1).astype(np.int64)
    hidden_size = np.maximum(np.rint(median_qty * np.exp(rng.normal(0.0, 1.0, n))), 1)
    hidden = np.where(rng.random(n) < _HIDDEN_P, hidden_size, 0).astype(np.int64)
    if n:
        hidden[0] = 0  # the day's first vtt is its first trade, so volumes sum to vtt
    return _SymbolTicks(ms, price_ticks, qty, np.cumsum(qty + hidden))


def _merge(symbols: Sequence[str], days: Sequence[_SymbolTicks], open_at: datetime) -> list[Tick]:
    """Merge the symbols' trades in time order (ties by symbol order) and number them."""
    ms = np.concatenate([d.ms for d in days])
    which = np.concatenate([np.full(len(d.ms), i) for i, d in enumerate(days)])
    index = np.concatenate([np.arange(len(d.ms)) for d in days])
    order = np.lexsort((index, which, ms))
    prices = np.concatenate([d.price_ticks for d in days])[order] / _TICKS_PER_RUPEE
    qty = np.concatenate([d.qty for d in days])[order]
    cum = np.concatenate([d.cum for d in days])[order]
    prev_cum: dict[str, int | None] = dict.fromkeys(symbols)
    ticks: list[Tick] = []
    for seq, (t, s, p, q, c) in enumerate(
        zip(
            ms[order].tolist(),
            which[order].tolist(),
            prices.tolist(),
            qty.tolist(),
            cum.tolist(),
            strict=True,
        ),
        start=1,
    ):
        symbol = symbols[s]
        volume = attributed_volume(prev_cum[symbol], c, q)
        prev_cum[symbol] = c
        ticks.append(
            Tick(
                symbol=symbol,
                ts=open_at + timedelta(milliseconds=t),
                price=p,
                last_qty=q,
                cum_volume=c,
                volume=volume,
                seq=seq,
            )
        )
    return ticks
