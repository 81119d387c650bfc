"""BrokerConfig: typed, frozen, validated, and built from plain mappings that are checked."""

from __future__ import annotations

import dataclasses
from datetime import time

import pytest

from pixity.broker import BrokerConfig, ChargeRates
from pixity.errors import ConfigError

BASE = {"max_capital": 100_000, "max_daily_loss": 5_000}


def test_from_mapping_reads_every_field() -> None:
    config = BrokerConfig.from_mapping(
        {
            **BASE,
            "per_trade_capital": 20_000,
            "slippage_bps": 5,
            "entry_cutoff": "14:30",
            "square_off": "15:05",
            "rates": {"brokerage_cap": 10, "gst_pct": 18},
        }
    )
    assert config == BrokerConfig(
        max_capital=100_000,
        max_daily_loss=5_000,
        per_trade_capital=20_000,
        slippage_bps=5,
        entry_cutoff=time(14, 30),
        square_off=time(15, 5),
        rates=ChargeRates(brokerage_cap=10),
    )
    assert config.trade_capital == 20_000


def test_defaults() -> None:
    config = BrokerConfig.from_mapping(BASE)
    assert config.per_trade_capital is None
    assert config.trade_capital == 25_000  # max_capital / 4
    assert (config.slippage_bps, config.entry_cutoff, config.square_off) == (
        2.0,
        time(15, 0),
        time(15, 15),
    )
    assert config.rates == ChargeRates()


def test_config_is_frozen() -> None:
    config = BrokerConfig.from_mapping(BASE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.max_capital = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({**BASE, "max_loss": 1, "bogus": 2}, "unknown broker config keys: bogus, max_loss"),
        ({**BASE, "rates": {"stt": 0.1}}, "unknown charge rates keys: stt"),
        ({"max_capital": 100_000}, "missing max_daily_loss"),
    ],
)
def test_from_mapping_rejects_unknown_and_missing_keys(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        BrokerConfig.from_mapping(values)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"max_capital": 0}, "max_capital 0 must be > 0"),
        ({"max_capital": -1}, "max_capital -1 must be > 0"),
        ({"max_capital": float("nan")}, "max_capital nan must be a finite number"),
        ({"max_daily_loss": True}, "max_daily_loss True must be a finite number"),
        ({"max_daily_loss": "5000"}, "max_daily_loss '5000' must be a finite number"),
        ({"per_trade_capital": 200_000}, "per_trade_capital 200000 is above max_capital"),
        ({"slippage_bps": -1}, "slippage_bps -1 must be >= 0"),
        ({"entry_cutoff": "3pm"}, "entry_cutoff '3pm' is not an IST time like '15:00'"),
        ({"entry_cutoff": "25:00"}, "entry_cutoff '25:00' is not an IST time"),
        ({"entry_cutoff": 1500}, "entry_cutoff 1500 must be a time"),
        ({"entry_cutoff": "15:20"}, "entry_cutoff 15:20 is after square_off 15:15"),
        ({"square_off": "16:00"}, "square_off 16:00 must lie after 09:15 and at or before 15:30"),
        ({"rates": 0.05}, "rates must be a mapping of charge rates"),
        ({"rates": {"gst_pct": -18}}, "charge rate gst_pct -18 must be a finite number >= 0"),
    ],
)
def test_from_mapping_rejects_bad_values(extra: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BrokerConfig.from_mapping({**BASE, **extra})


def test_from_mapping_refuses_a_non_mapping() -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        BrokerConfig.from_mapping([("max_capital", 1)])  # type: ignore[arg-type]
