"""The overview table: one row per runner, joined right with prices, signals and positions."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from scanner_support import (
    NOW,
    OTHER,
    STRATEGY,
    SYM,
    SYM2,
    SYM3,
    T0,
    clock,
    runner,
    signal,
    write_all,
)

from pixity.domain import SignalStatus, SignalType
from pixity.scanner import OVERVIEW, ScannerView, overview
from pixity.stores import ConfigStore, SignalStore, StorePaths


def row(frame: pd.DataFrame, symbol: str, strategy_id: str = STRATEGY) -> pd.Series:
    found = frame[(frame["symbol"] == symbol) & (frame["strategy_id"] == strategy_id)]
    assert len(found) == 1
    return found.iloc[0]


def ts(minute: int) -> pd.Timestamp:
    return pd.Timestamp(T0 + timedelta(minutes=minute))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    write_all(tmp_path)
    return tmp_path


def test_one_row_per_runner_with_every_column_and_dtype(data: Path) -> None:
    result = overview(data, clock=clock())
    frame = result["overview"]
    assert result.errors == {} and result.notes == ()
    assert list(frame.columns) == list(OVERVIEW)
    assert {c: str(frame[c].dtype) for c in frame} == {c: str(d) for c, d in OVERVIEW.items()}
    assert sorted(zip(frame["strategy_id"], frame["symbol"], strict=True)) == sorted(
        [(STRATEGY, SYM), (OTHER, SYM), (STRATEGY, SYM2), (STRATEGY, SYM3)]
    )


def test_a_runner_row_joins_its_price_signal_and_position(data: Path) -> None:
    r = row(overview(data, clock=clock())["overview"], SYM)
    assert (r["status"], r["timeframe"], r["current_bias"], r["signal_state"]) == (
        "RUNNING", "15m", "BUY", "TRIGGERED",
    )  # fmt: skip
    assert r["last_bar_ts"] == ts(30)
    assert r["name"] == SYM
    # The forming 09:56 bar's close is the last price; the day opened at 100.0 (09:15).
    assert r["last_price"] == 104.5
    assert r["price_ts"] == ts(41)
    assert r["change_pct"] == pytest.approx(4.5)
    # The newest bar's signal (09:45 EXIT), although the 09:30 SELL was written after it.
    assert (r["last_signal"], r["last_signal_confidence"]) == ("EXIT", 0.52)
    assert r["last_signal_bar_ts"] == ts(30)
    assert r["last_signal_status"] == "PENDING"
    # Long 10 @ 101.0, realised 5.0: unrealised (104.5 - 101.0) * 10.
    assert (r["position"], r["avg_price"], r["realised_pnl"]) == (10, 101.0, 5.0)
    assert r["unrealised_pnl"] == pytest.approx(35.0)
    assert r["pnl"] == pytest.approx(40.0)
    assert not r["attention"]
    assert pd.isna(r["last_error"])


def test_the_same_symbol_under_another_strategy_has_its_own_signal_and_position(
    data: Path,
) -> None:
    r = row(overview(data, clock=clock())["overview"], SYM, OTHER)
    assert (r["current_bias"], r["last_signal"], r["last_signal_confidence"]) == (
        "NEUTRAL", "SELL", 0.9,
    )  # fmt: skip
    assert r["last_signal_bar_ts"] == ts(15)
    # Short 10 @ 102.0 at 104.5: (104.5 - 102.0) * -10.
    assert (r["position"], r["unrealised_pnl"], r["pnl"]) == (-10, -25.0, -25.0)
    assert r["last_price"] == 104.5


def test_an_error_runner_stands_out_and_yesterdays_position_is_not_today(data: Path) -> None:
    r = row(overview(data, clock=clock())["overview"], SYM2)
    assert (r["status"], r["last_error"], r["attention"]) == ("ERROR", "model file missing", True)
    assert r["last_price"] == 48.0
    assert r["change_pct"] == pytest.approx(-4.0)  # 50.0 -> 48.0
    assert (r["last_signal"], r["last_signal_bar_ts"]) == ("BUY", ts(0))
    assert (r["position"], r["realised_pnl"], r["pnl"]) == (0, 0.0, 0.0)
    assert math.isnan(r["avg_price"])


def test_a_runner_with_nothing_yet_has_missing_values_not_zeros(data: Path) -> None:
    r = row(overview(data, clock=clock())["overview"], SYM3)
    assert (r["status"], r["attention"]) == ("STALE", True)
    assert pd.isna(r["last_bar_ts"]) and pd.isna(r["price_ts"])
    assert math.isnan(r["last_price"]) and math.isnan(r["change_pct"])
    assert pd.isna(r["last_signal"]) and pd.isna(r["last_signal_bar_ts"])
    assert (r["position"], r["pnl"]) == (0, 0.0)


def test_the_table_sorts_like_any_frame(data: Path) -> None:
    frame = overview(data, clock=clock())["overview"]
    by_change = frame.sort_values("change_pct", ascending=False, na_position="last")
    assert list(by_change["symbol"])[-1] == SYM3
    assert by_change["change_pct"].iloc[-2] == pytest.approx(-4.0)
    assert list(frame.sort_values("last_signal_bar_ts")["last_signal_bar_ts"].dropna()) == sorted(
        frame["last_signal_bar_ts"].dropna()
    )


def test_a_signal_written_between_refreshes_shows_on_the_next_one(data: Path) -> None:
    with ScannerView(data, clock=clock()) as view:
        assert row(view.refresh()["overview"], SYM)["last_signal"] == "EXIT"
        # Two signals on the next bar: the one written last wins the tie.
        with SignalStore(StorePaths(data).signals) as store:
            store.save_signal(signal(SYM, 45, SignalType.SELL, 0.66))
            later = signal(SYM, 45, SignalType.EXIT, 0.71)
            store.save_signal(later)
            store.set_status(later.signal_id, SignalStatus.FILLED, None)
        r = row(view.refresh()["overview"], SYM)
    assert (r["last_signal"], r["last_signal_confidence"]) == ("EXIT", 0.71)
    assert (r["last_signal_bar_ts"], r["last_signal_status"]) == (ts(45), "FILLED")


def test_the_clock_must_be_aware(data: Path) -> None:
    class Naive:
        def now(self) -> object:
            return NOW.replace(tzinfo=None)

    with pytest.raises(ValueError, match="naive"):
        overview(data, clock=Naive())  # type: ignore[arg-type]


def test_a_runner_added_between_refreshes_gets_its_signal_from_an_unchanged_store(
    data: Path,
) -> None:
    paths = StorePaths(data)
    with SignalStore(paths.signals) as store:
        store.save_signal(signal(SYM3, 15, SignalType.BUY, 0.55, strategy_id=OTHER))
    with ScannerView(data, clock=clock()) as view:
        assert len(view.refresh()["overview"]) == 4
        with ConfigStore(paths.config) as config:
            config.upsert_runner_state(runner(SYM3, OTHER))
        r = row(view.refresh()["overview"], SYM3, OTHER)
    assert (r["last_signal"], r["last_signal_confidence"]) == ("BUY", 0.55)
