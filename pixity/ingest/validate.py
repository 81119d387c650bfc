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

A good entry comes back as its ``TickRow``, the row the ``ticks`` table stores, whose values
are exactly those a ``Tick`` accepts (a float price, int quantities, an exchange time in
epoch ms): the ingest builds bars and rows from it without making a ``Tick`` per trade.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date
from enum import StrEnum

from pixity.domain import Tick, TickRow, check_symbol
from pixity.errors import InvalidValueError
from pixity.feeds.upstox_trades import TradeEntry
from pixity.markettime import session_close, session_open, to_epoch_ms

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
    INVALID_TICK = "invalid_tick"  # a value a Tick would refuse (message logged)


class QuoteValidator:
    """Validate the quotes of one session day and attribute their volume."""

    def __init__(self, symbols: Iterable[str], day: date, *, trading_day: bool) -> None:
        self.symbols = frozenset(symbols)
        for symbol in self.symbols:
            check_symbol(symbol)  # a row's symbol is then what a Tick accepts
        self.day = day
        self.trading_day = trading_day
        self.next_seq = 0
        self._high_water: dict[str, int] = {}
        self._last_trade: dict[str, _TradeKey] = {}
        # The day's session as epoch ms [open, close): ltt is compared as an integer.
        self._open_ms = to_epoch_ms(session_open(day))
        self._close_ms = to_epoch_ms(session_close(day)) if trading_day else self._open_ms

    def restore(
        self, *, next_seq: int, high_water: Mapping[str, int], last_ticks: Mapping[str, Tick]
    ) -> None:
        """Continue from stored state: the next seq, each key's high-water vtt and last trade."""
        self.next_seq = next_seq
        self._high_water = dict(high_water)
        self._last_trade = {key: _trade_key_of(tick) for key, tick in last_ticks.items()}

    def check(self, entry: TradeEntry) -> TickRow | Reason | None:
        """Return the entry's row (seq = ``next_seq``), the reason it is refused, or None (no trade).

        Raises ``InvalidValueError`` for a value of a type no decoder gives (say, an int price).
        """
        key, ltp, ltt_ms, ltq_or_none, vtt = entry
        if key not in self.symbols:
            return Reason.UNSUBSCRIBED_KEY
        if ltp is None or ltt_ms is None:
            return None
        if not (ltp.__class__ is float and 0.0 < ltp < math.inf):  # NaN fails both
            if isinstance(ltp, bool) or not isinstance(ltp, int | float):  # as a Tick refuses
                raise InvalidValueError(f"{key}: ltp {ltp!r} is not a number")
            if not math.isfinite(ltp) or ltp <= 0:
                return Reason.BAD_PRICE
            ltp = float(ltp)
        ltq = ltq_or_none or 0
        if not 0 <= ltq <= MAX_QUANTITY or (vtt is not None and not 0 <= vtt <= MAX_QUANTITY):
            return Reason.BAD_QUANTITY
        if not self._open_ms <= ltt_ms < self._close_ms:
            return Reason.OUTSIDE_SESSION
        if self._last_trade.get(key) == (ltt_ms, ltp, ltq, vtt):
            return Reason.DUPLICATE
        if not (ltt_ms.__class__ is int and ltq.__class__ is int and vtt.__class__ in _VTT_TYPES):
            _check_ints(key, ltt_ms, ltq, vtt)
        high = self._high_water.get(key)
        volume = ltq if vtt is None or high is None else (vtt - high if vtt > high else 0)
        return (key, ltt_ms, ltp, ltq, vtt, self.next_seq, volume)

    def trade_state(self) -> tuple[frozenset[str], dict[str, _TradeKey], dict[str, int]]:
        """Return the subscribed keys, and the live per-key last trade and high-water ``vtt``.

        For a caller that does ``check`` and ``accept`` of the common case in one go (the
        ingest's per-tick path): it must refuse what ``check`` refuses and update these and
        ``next_seq`` exactly as ``accept`` does. The session's bounds are ``session_ms``.
        """
        return self.symbols, self._last_trade, self._high_water

    @property
    def session_ms(self) -> tuple[int, int]:
        """Return the session as epoch ms ``[open, close)`` (empty on a day without one)."""
        return self._open_ms, self._close_ms

    def accept(self, row: TickRow) -> None:
        """Record that ``row``'s tick was accepted: move seq, the high water and the last trade."""
        key, ltt_ms, ltp, ltq, vtt, seq, _volume = row
        self.next_seq = seq + 1
        self._last_trade[key] = (ltt_ms, ltp, ltq, vtt)
        if vtt is not None:
            high = self._high_water.get(key)
            if high is None or vtt > high:
                self._high_water[key] = vtt


_VTT_TYPES = frozenset({int, type(None)})


def _check_ints(key: str, ltt_ms: object, ltq: object, vtt: object) -> None:
    """Refuse what is not a plain int where a row needs one (no decoder gives anything else)."""
    for name, value in (("ltt", ltt_ms), ("ltq", ltq), ("vtt", vtt)):
        if value is not None and value.__class__ is not int:
            raise InvalidValueError(f"{key}: {name} {value!r} is not an int")


def _trade_key_of(tick: Tick) -> _TradeKey:
    return (to_epoch_ms(tick.ts), tick.price, tick.last_qty, tick.cum_volume)
