"""The paper broker's typed, frozen configuration, which rejects unknown keys."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import time
from typing import Any

from pixity.broker.costs import ChargeRates
from pixity.errors import ConfigError
from pixity.markettime import SESSION_CLOSE, SESSION_OPEN

_HH_MM_RE = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


def _check_amount(name: str, value: object, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"broker config {name} {value!r} must be a finite number")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"broker config {name} {value!r} must be {bound}")
    return float(value)


def _check_time(name: str, value: object) -> time:
    if not isinstance(value, time):
        raise ConfigError(f"broker config {name} {value!r} must be a time (IST), e.g. 15:00")
    if value.tzinfo is not None:
        raise ConfigError(f"broker config {name} {value} must be a plain IST time, no tzinfo")
    if not SESSION_OPEN < value <= SESSION_CLOSE:
        raise ConfigError(
            f"broker config {name} {value:%H:%M} must lie after {SESSION_OPEN:%H:%M} "
            f"and at or before {SESSION_CLOSE:%H:%M} IST"
        )
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerConfig:
    """Limits, slippage, session times (IST) and charge rates of one paper broker.

    ``max_capital`` bounds gross exposure (|quantity| x price of open positions and open entry
    orders); ``per_trade_capital`` bounds one entry (None means ``max_capital / 4``).
    Buys fill at price x (1 + ``slippage_bps``/1e4) rounded up to the 0.05 tick, sells at
    price x (1 - ``slippage_bps``/1e4) rounded down. No new entries at or after
    ``entry_cutoff``; every position is flattened at or after ``square_off``.
    """

    max_capital: float
    max_daily_loss: float
    per_trade_capital: float | None = None
    slippage_bps: float = 2.0
    entry_cutoff: time = time(15, 0)
    square_off: time = time(15, 15)
    rates: ChargeRates = field(default_factory=ChargeRates)

    def __post_init__(self) -> None:
        _check_amount("max_capital", self.max_capital)
        _check_amount("max_daily_loss", self.max_daily_loss)
        if self.per_trade_capital is not None:
            _check_amount("per_trade_capital", self.per_trade_capital)
            if self.per_trade_capital > self.max_capital:
                raise ConfigError(
                    f"broker config per_trade_capital {self.per_trade_capital} is above "
                    f"max_capital {self.max_capital}"
                )
        _check_amount("slippage_bps", self.slippage_bps, allow_zero=True)
        _check_time("entry_cutoff", self.entry_cutoff)
        _check_time("square_off", self.square_off)
        if self.entry_cutoff > self.square_off:
            raise ConfigError(
                f"broker config entry_cutoff {self.entry_cutoff:%H:%M} is after "
                f"square_off {self.square_off:%H:%M}"
            )
        if not isinstance(self.rates, ChargeRates):
            raise ConfigError(f"broker config rates {self.rates!r} must be ChargeRates")

    @property
    def trade_capital(self) -> float:
        """Return the capital one entry may use (``per_trade_capital`` or max_capital / 4)."""
        if self.per_trade_capital is None:
            return self.max_capital / 4
        return self.per_trade_capital

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> BrokerConfig:
        """Build a config from plain values: "HH:MM" times, a nested mapping for ``rates``."""
        _reject_unknown("broker config", values, {f.name for f in fields(cls)})
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            kwargs[key] = _PARSERS.get(key, _as_is)(key, value)
        missing = sorted({"max_capital", "max_daily_loss"} - set(kwargs))
        if missing:
            raise ConfigError(f"broker config is missing {', '.join(missing)}")
        return cls(**kwargs)


def _reject_unknown(what: str, values: Mapping[str, object], known: set[str]) -> None:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{what} must be a mapping, got {type(values).__name__}")
    unknown = sorted(str(key) for key in values if key not in known)
    if unknown:
        raise ConfigError(
            f"unknown {what} keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


def _as_is(key: str, value: object) -> object:
    return value


def _parse_time(key: str, value: object) -> object:
    if not isinstance(value, str):
        return value  # a time passes as is; anything else is refused by the constructor
    match = _HH_MM_RE.match(value.strip())
    if match is None:
        raise ConfigError(f"broker config {key} {value!r} is not an IST time like '15:00'")
    return time(int(match.group(1)), int(match.group(2)))


def _parse_rates(key: str, value: object) -> object:
    if isinstance(value, ChargeRates):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"broker config {key} must be a mapping of charge rates")
    _reject_unknown("charge rates", value, {f.name for f in fields(ChargeRates)})
    rates: dict[str, Any] = {str(name): rate for name, rate in value.items()}
    return ChargeRates(**rates)


_PARSERS: dict[str, Callable[[str, object], object]] = {
    "entry_cutoff": _parse_time,
    "square_off": _parse_time,
    "rates": _parse_rates,
}
