"""The live session's parameters: typed, frozen, checked, unknown keys refused."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import time
from pathlib import Path

from pixity.domain import check_symbol
from pixity.errors import ConfigError, InvalidValueError
from pixity.strategies.base import takes_data_dir

_RUN_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_UNTIL_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
MODES = ("paper",)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    """Everything a live session needs to know; built from the notebook's parameters.

    ``until`` is market time (IST, feed clock): the session runs through the 15m bar that
    closes at it, then stops; None runs to the end of the trading session.
    """

    symbols: tuple[str, ...]
    strategies: tuple[str, ...]
    max_capital: float
    max_daily_loss: float
    run_id: str
    data_dir: Path = Path("data")
    mode: str = "paper"
    timeframe: str = "15m"
    until: time | None = None
    slippage_bps: float = 2.0
    costs: Mapping[str, float] = field(default_factory=dict)
    strategy_params: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    per_trade_capital: float | None = None
    entry_cutoff: time = time(15, 0)
    square_off: time = time(15, 15)
    poll_s: float = 0.05
    stale_after_s: float = 90.0
    give_up_after_s: float = 3600.0  # live buffer unchanged this long in session: stop, ERROR
    stale_market_minutes: int = 5
    wait_for_feed_s: float = 600.0
    warmup_days: int = 5

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(
                f"mode {self.mode!r} is not supported: pixity trades paper only for now "
                "(--mode paper)"
            )
        if not self.symbols:
            raise ConfigError("a live session needs at least one symbol")
        for symbol in self.symbols:
            try:
                check_symbol(symbol)
            except InvalidValueError as exc:
                raise ConfigError(str(exc)) from None
        if len(set(self.symbols)) != len(self.symbols):
            raise ConfigError(f"symbols repeat: {list(self.symbols)}")
        if not self.strategies or len(set(self.strategies)) != len(self.strategies):
            raise ConfigError(f"strategies must be one or more distinct ids, got {self.strategies}")
        if self.timeframe != "15m":
            raise ConfigError(f"timeframe {self.timeframe!r}: live sessions run on '15m' bars")
        if not _RUN_ID_RE.match(self.run_id):
            raise ConfigError(f"run_id {self.run_id!r} must be 1-64 of [A-Za-z0-9_.-]")
        for name in ("max_capital", "max_daily_loss"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value < 1e12:
                raise ConfigError(f"{name} {value!r} must be a positive number of rupees")
        if not 0 <= self.slippage_bps <= 500:
            raise ConfigError(f"slippage_bps {self.slippage_bps} must be in 0..500")
        if not 0.001 <= self.poll_s <= 5:
            raise ConfigError(f"poll_s {self.poll_s} must be in 0.001..5 seconds")
        unknown = sorted(set(self.strategy_params) - set(self.strategies))
        if unknown:
            raise ConfigError(f"strategy_params for strategies not run: {', '.join(unknown)}")
        # A strategy that finds its models under a data dir finds them under the session's,
        # unless its parameters name another.
        params = {k: dict(v) for k, v in self.strategy_params.items()}
        for strategy in self.strategies:
            if takes_data_dir(strategy) and "data_dir" not in params.get(strategy, {}):
                params.setdefault(strategy, {})["data_dir"] = str(self.data_dir)
        object.__setattr__(self, "strategy_params", params)

    @property
    def timeframe_minutes(self) -> int:
        """Return the bar length in minutes."""
        return int(self.timeframe[:-1])

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> SessionConfig:
        """Build the config from notebook parameters, refusing unknown names."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(f"unknown session parameter(s): {', '.join(unknown)}")
        values = dict(params)
        for name in ("symbols", "strategies"):
            if name in values:
                values[name] = _names(values[name], name)
        if values.get("until") == "":
            values["until"] = None  # the notebook's default: to the end of the session
        for name in ("until", "entry_cutoff", "square_off"):
            if isinstance(values.get(name), str):
                values[name] = parse_hhmm(str(values[name]), name)
        if "data_dir" in values:
            values["data_dir"] = Path(str(values["data_dir"]))
        try:
            return cls(**values)  # type: ignore[arg-type]
        except TypeError as exc:
            raise ConfigError(f"session parameters: {exc}") from None


def _names(value: object, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        # Keys may hold spaces ("NSE_INDEX|Nifty 50"): a string is a comma-separated list.
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, Sequence):
        return tuple(str(item) for item in value)
    raise ConfigError(f"{what} must be a list of names, got {type(value).__name__}")


def parse_hhmm(text: str, what: str = "time") -> time:
    """Parse 'HH:MM' (IST market time)."""
    match = _UNTIL_RE.match(text.strip())
    if not match:
        raise ConfigError(f"{what} {text!r} is not a market time like '12:00'")
    return time(int(match.group(1)), int(match.group(2)))
