"""Triple-barrier labels for the rule's candidates, and the barrier the strategy exits by.

A candidate on bar ``t`` enters at ``close_t`` in the direction ``side`` (+1 BUY, -1 SELL),
with the ATR of bar ``t``. Its barriers:

- **profit target** at ``entry + side * profit_atr * atr`` (pt),
- **stop** at ``entry - side * stop_atr * atr`` (sl),
- **time limit**: ``horizon`` (h) bars after the entry,
- **end of day**: intraday only, the path never leaves the entry's day.

They are checked on each later bar's **close** (not its high or low: the strategy sees closed
bars, and a close-only check has no "which came first inside the bar" ambiguity), in the
order target, stop, time limit, end of day. The label is 1 when the target is reached first,
0 otherwise. ``Barrier.check`` is the one implementation: ``triple_barrier_labels`` walks it
over a frame and the strategy calls it on each closed bar, so backtest trades and labels
agree.

In a frame the day's last bar is the last bar the symbol has that day; a candidate on it has
nothing left to walk and is labelled 0 with an end-of-day exit at its own bar.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from pixity.errors import ConfigError, InvalidValueError


class ExitReason(StrEnum):
    """Which barrier ended a trade."""

    TARGET = "target"
    STOP = "stop"
    TIME = "time"
    END_OF_DAY = "end_of_day"


@dataclass(frozen=True, slots=True, kw_only=True)
class BarrierParams:
    """The barriers: target and stop in ATR multiples, and the time limit in bars."""

    profit_atr: float = 1.5
    stop_atr: float = 1.0
    horizon: int = 6

    def __post_init__(self) -> None:
        for name in ("profit_atr", "stop_atr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{name} must be a number, got {value!r}")
            if not 0.0 < value <= 50.0:
                raise ConfigError(f"{name} {value} must be in (0, 50]")
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, int):
            raise ConfigError(f"horizon must be an int, got {self.horizon!r}")
        if not 1 <= self.horizon <= 25:
            raise ConfigError(f"horizon {self.horizon} must be in 1..25 bars")

    def as_dict(self) -> dict[str, float]:
        """Return the parameters as plain values (for metadata)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Barrier:
    """The barriers of one open trade."""

    side: int
    entry: float
    target: float
    stop: float
    horizon: int

    @classmethod
    def open(cls, side: int, entry: float, atr: float, params: BarrierParams) -> Barrier:
        """Return the barriers of a trade entered at ``entry`` with ``atr``."""
        if side not in (1, -1):
            raise InvalidValueError(f"side {side} must be +1 (BUY) or -1 (SELL)")
        return cls(
            side=side,
            entry=entry,
            target=entry + side * params.profit_atr * atr,
            stop=entry - side * params.stop_atr * atr,
            horizon=params.horizon,
        )

    def check(self, close: float, held: int, *, last_of_day: bool) -> ExitReason | None:
        """Return why the trade ends on a bar closing at ``close``, or None if it goes on.

        ``held`` counts the bars since the entry, this one included.
        """
        if self.side * (close - self.target) >= 0:
            return ExitReason.TARGET
        if self.side * (close - self.stop) <= 0:
            return ExitReason.STOP
        if held >= self.horizon:
            return ExitReason.TIME
        if last_of_day:
            return ExitReason.END_OF_DAY
        return None


LABEL_COLUMNS = (
    "symbol", "bar_ts", "side", "entry", "atr", "exit_ts", "exit_close", "reason", "held",
    "label", "ret",
)  # fmt: skip


def triple_barrier_labels(
    frame: pd.DataFrame, candidates: pd.Series, params: BarrierParams
) -> pd.DataFrame:
    """Label every candidate (``candidates`` != 0, aligned with ``frame``) by its barriers.

    ``frame`` is sorted by (symbol, bar_ts) with ``close`` and ``atr`` columns; returns one row
    per candidate with ``LABEL_COLUMNS`` (``ret`` is ``side * log(exit / entry)``).
    """
    for column in ("symbol", "bar_ts", "close", "atr"):
        if column not in frame.columns:
            raise InvalidValueError(f"label frame lacks column {column!r}")
    day = frame["bar_ts"].dt.tz_convert("Asia/Kolkata").dt.date
    positions = pd.Series(np.arange(len(frame)), index=frame.index)
    day_last = positions.groupby([frame["symbol"], day]).transform("max").to_numpy()
    close = frame["close"].to_numpy(dtype="float64")
    atr = frame["atr"].to_numpy(dtype="float64")
    side = candidates.to_numpy()
    rows = []
    for start in np.flatnonzero(side != 0).tolist():
        barrier = Barrier.open(int(side[start]), float(close[start]), float(atr[start]), params)
        end, reason = _walk(barrier, close, start, int(day_last[start]))
        rows.append((start, barrier, end, reason))
    return _label_frame(frame, atr, close, rows)


def _walk(barrier: Barrier, close: np.ndarray, start: int, last: int) -> tuple[int, ExitReason]:
    """Return where and why the trade entered at row ``start`` ends; ``last`` ends its day."""
    for at in range(start + 1, last + 1):
        reason = barrier.check(float(close[at]), at - start, last_of_day=at == last)
        if reason is not None:
            return at, reason
    return start, ExitReason.END_OF_DAY  # entered on the day's last bar


def _label_frame(
    frame: pd.DataFrame,
    atr: np.ndarray,
    close: np.ndarray,
    rows: list[tuple[int, Barrier, int, ExitReason]],
) -> pd.DataFrame:
    starts = [r[0] for r in rows]
    ends = [r[2] for r in rows]
    return pd.DataFrame(
        {
            "symbol": frame["symbol"].to_numpy()[starts],
            "bar_ts": frame["bar_ts"].iloc[starts].reset_index(drop=True),
            "side": np.array([r[1].side for r in rows], dtype="int64"),
            "entry": close[starts],
            "atr": atr[starts],
            "exit_ts": frame["bar_ts"].iloc[ends].reset_index(drop=True),
            "exit_close": close[ends],
            "reason": [str(r[3]) for r in rows],
            "held": np.array(ends, dtype="int64") - np.array(starts, dtype="int64"),
            "label": np.array([int(r[3] is ExitReason.TARGET) for r in rows], dtype="int64"),
            "ret": [r[1].side * math.log(close[r[2]] / close[r[0]]) for r in rows],
        },
        columns=list(LABEL_COLUMNS),
    )
