"""Turn one wire entry's trade into a ``Tick``, or say why not (every reason is counted).

Reasons, in the order they are checked: ``unsubscribed_key`` (not one of ``--symbols``),
``bad_price`` (``ltp`` not finite or <= 0), ``bad_quantity`` (``ltq`` or ``vtt`` negative or
above ``MAX_QUANTITY``), ``outside_session`` (``ltt`` not inside 09:15-15:30 IST of the
current session day, or the day is not a trading day), ``duplicate`` (same ``ltt, ltp, ltq,
vtt`` as the last trade accepted for the key: full-mode depth updates repeat the last trade
and land here). A quote without ``ltpc`` carries no trade: it is not a rejection (counted as
``quotes_without_trade``).

Volume attribution. Per key the validator keeps the high-water ``vtt`` of accepted ticks:

- ``vtt`` above the high water: volume = ``vtt - high_water`` (trades between prints count);
- ``vtt`` present but not above it: volume 0 (that quantity was already counted by a print
  the exchange stamped later, which arrived first);
- the first print of the day (no high water yet) and prints without ``vtt`` (ltpc mode):
  volume = ``ltq``.

The high water and the last trade move only when the bar builder *accepts* the tick (see
``accept``), so a late print's volume goes to the next accepted print instead of being lost,
and both can be rebuilt from the stored ticks after a restart (max ``vtt``, highest ``seq``).

``seq`` is a per-day counter of accepted ticks in processing order (0, 1, 2, ...): replaying
the journal from a committed position gives every tick the same ``seq`` again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import date, datetime
from enum import StrEnum

from pixity.domain import Tick
from pixity.feeds.upstox_trades import TradeEntry
from pixity.markettime import from_epoch_ms, session_close, session_open, to_epoch_ms

_TradeKey = tuple[int, float, int, int | None]

# More shares or contracts than any instrument trades in a day. Above it a quantity is
# corrupt, and summing such ticks into a bar's volume would pass int64: SQLite would store it
# as REAL and every reader of ``bars_1m`` would then fail on the row.
MAX_QUANTITY = 10**12


class Reason(StrEnum):
    """Why a quote or a frame was not turned into a stored tick."""

    MALFORMED_FRAME = "malformed_frame"
    UNSUBSCRIBED_KEY = "unsubscribed_key"
    BAD_PRICE = "bad_price"
    BAD_QUANTITY = "bad_quantity"
    OUTSIDE_SESSION = "outside_session"
    DUPLICATE = "duplicate"
    LATE = "late"
    INVALID_TICK = "invalid_tick"  # a value the Tick constructor refused (message logged)


class QuoteValidator:
    """Validate the quotes of one session day and attribute their volume."""

    def __init__(self, symbols: Iterable[str], day: date, *, trading_day: bool) -> None:
        self.symbols = frozenset(symbols)
        self.day = day
        self.trading_day = trading_day
        self.next_seq = 0
        self._high_water: dict[str, int] = {}
        self._last_trade: dict[str, _TradeKey] = {}
        # The day's session as epoch ms [open, close): ltt is compared as an integer.
        self._open_ms = to_epoch_ms(session_open(day))
        self._close_ms = to_epoch_ms(session_close(day)) if trading_day else self._open_ms
        # The trade key of the tick ``check`` returned last, for ``accept`` (saves a conversion).
        self._checked: tuple[Tick, _TradeKey] | None = None

    def restore(
        self, *, next_seq: int, high_water: Mapping[str, int], last_ticks: Mapping[str, Tick]
    ) -> None:
        """Continue from stored state: the next seq, each key's high-water vtt and last trade."""
        self.next_seq = next_seq
        self._high_water = dict(high_water)
        self._last_trade = {key: _trade_key_of(tick) for key, tick in last_ticks.items()}

    def check(self, entry: TradeEntry) -> Tick | Reason | None:
        """Return the entry's tick (seq = ``next_seq``), the reason it is refused, or None (no trade)."""
        key, ltp, ltt_ms, ltq_or_none, vtt = entry
        if key not in self.symbols:
            return Reason.UNSUBSCRIBED_KEY
        if ltp is None or ltt_ms is None:
            return None
        if not math.isfinite(ltp) or ltp <= 0:
            return Reason.BAD_PRICE
        ltq = ltq_or_none or 0
        if not 0 <= ltq <= MAX_QUANTITY or (vtt is not None and not 0 <= vtt <= MAX_QUANTITY):
            return Reason.BAD_QUANTITY
        if not self._open_ms <= ltt_ms < self._close_ms:
            return Reason.OUTSIDE_SESSION
        trade = (ltt_ms, ltp, ltq, vtt)
        if self._last_trade.get(key) == trade:
            return Reason.DUPLICATE
        high = self._high_water.get(key)
        volume = ltq if vtt is None or high is None else (vtt - high if vtt > high else 0)
        tick = _new_tick(key, from_epoch_ms(ltt_ms), ltp, ltq, vtt, volume, self.next_seq)
        self._checked = (tick, trade)
        return tick

    def accept(self, tick: Tick) -> None:
        """Record that ``tick`` was accepted: move seq, the high water and the last trade."""
        self.next_seq = tick.seq + 1
        checked = self._checked
        if checked is not None and checked[0] is tick:
            self._last_trade[tick.symbol] = checked[1]
        else:
            self._last_trade[tick.symbol] = _trade_key_of(tick)
        if tick.cum_volume is not None:
            high = self._high_water.get(tick.symbol)
            if high is None or tick.cum_volume > high:
                self._high_water[tick.symbol] = tick.cum_volume


# Per tick: a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``,
# which cost as much as the rest of ``check``. ``_new_tick`` builds the very same ``Tick``
# through the slots' own descriptors and then runs its ``__post_init__``, so every invariant
# is checked exactly as the constructor checks it. The field order is checked at import.
_TICK_FIELDS = ("symbol", "ts", "price", "last_qty", "cum_volume", "volume", "seq")
if tuple(f.name for f in fields(Tick)) != _TICK_FIELDS:
    raise RuntimeError(f"Tick's fields changed: update _new_tick in {__name__}")
_TICK_SETTERS = tuple(getattr(Tick, name).__set__ for name in _TICK_FIELDS)
_TICK_CHECK = Tick.__post_init__


def _new_tick(
    symbol: str,
    ts: datetime,
    price: float,
    last_qty: int,
    cum_volume: int | None,
    volume: int,
    seq: int,
) -> Tick:
    tick = object.__new__(Tick)
    s_symbol, s_ts, s_price, s_last_qty, s_cum_volume, s_volume, s_seq = _TICK_SETTERS
    s_symbol(tick, symbol)
    s_ts(tick, ts)
    s_price(tick, price)
    s_last_qty(tick, last_qty)
    s_cum_volume(tick, cum_volume)
    s_volume(tick, volume)
    s_seq(tick, seq)
    _TICK_CHECK(tick)
    return tick


def _trade_key_of(tick: Tick) -> _TradeKey:
    return (to_epoch_ms(tick.ts), tick.price, tick.last_qty, tick.cum_volume)
