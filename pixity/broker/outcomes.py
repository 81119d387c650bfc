"""What became of each signal: FILLED once all its orders filled, or REJECTED with a reason."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pixity.broker.book import EXIT_ONLY
from pixity.domain import Order, OrderStatus, SignalStatus
from pixity.errors import InvalidValueError


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalOutcome:
    """The broker's final word on one signal; ``reason`` is required when REJECTED.

    A FILLED outcome may carry a note, e.g. a reversal whose exit filled but whose entry
    was refused ("exit only: after entry cutoff 15:00").
    """

    signal_id: str
    status: SignalStatus
    reason: str | None

    def __post_init__(self) -> None:
        if self.status not in (SignalStatus.FILLED, SignalStatus.REJECTED):
            raise InvalidValueError(f"signal outcome {self.status!r} must be FILLED or REJECTED")
        if self.status is SignalStatus.REJECTED and not self.reason:
            raise InvalidValueError(f"rejected signal {self.signal_id} needs a reason")


class SignalTracker:
    """Follow each signal's orders and settle its outcome exactly once."""

    def __init__(self) -> None:
        self._legs: dict[str, dict[str, Order]] = {}
        self._settled: set[str] = set()

    def seen(self, signal_id: str) -> bool:
        """Tell whether the signal was already handled (it has orders or an outcome)."""
        return signal_id in self._legs or signal_id in self._settled

    def reject(self, signal_id: str, reason: str) -> SignalOutcome:
        """Settle a signal that placed no order as REJECTED."""
        self._settled.add(signal_id)
        return SignalOutcome(signal_id=signal_id, status=SignalStatus.REJECTED, reason=reason)

    def track(self, signal_id: str, orders: Sequence[Order]) -> None:
        """Follow the orders placed for a signal."""
        self._legs[signal_id] = {order.order_id: order for order in orders}

    def settle(self, order: Order) -> SignalOutcome | None:
        """Record ``order``'s new state; return the signal's outcome once all legs are final."""
        signal_id = order.signal_id
        if signal_id is None or signal_id in self._settled or signal_id not in self._legs:
            return None
        legs = self._legs[signal_id]
        legs[order.order_id] = order
        if any(leg.status is OrderStatus.OPEN for leg in legs.values()):
            return None
        self._settled.add(signal_id)
        return _outcome(signal_id, list(legs.values()))

    def settled_by_orders(self) -> list[SignalOutcome]:
        """Return the outcome of each signal whose orders are all final, in signal order."""
        return [
            _outcome(signal_id, list(legs.values()))
            for signal_id, legs in sorted(self._legs.items())
            if signal_id in self._settled
        ]

    def restore(self, orders: Iterable[Order]) -> None:
        """Follow stored orders again; a signal whose legs are all final was settled before."""
        for order in orders:
            if order.signal_id is not None:
                self._legs.setdefault(order.signal_id, {})[order.order_id] = order
        for signal_id, legs in self._legs.items():
            if all(leg.status is not OrderStatus.OPEN for leg in legs.values()):
                self._settled.add(signal_id)


def _outcome(signal_id: str, legs: Sequence[Order]) -> SignalOutcome:
    """Return the outcome of a signal whose orders ``legs`` are all final."""
    unfilled = [leg for leg in legs if leg.status is not OrderStatus.FILLED]
    if unfilled:
        reason = unfilled[0].reason or f"order {unfilled[0].order_id} {unfilled[0].status}"
        return SignalOutcome(signal_id=signal_id, status=SignalStatus.REJECTED, reason=reason)
    # A reversal whose entry was refused says so in its exit's reason (kept on restart).
    notes = [leg.reason for leg in legs if (leg.reason or "").startswith(EXIT_ONLY)]
    return SignalOutcome(
        signal_id=signal_id, status=SignalStatus.FILLED, reason=notes[0] if notes else None
    )
