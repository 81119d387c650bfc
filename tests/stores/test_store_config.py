"""config.db: every RunnerState field survives the round trip; upserts stamp updated_at."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_samples import STRATEGY, SYM, SYM2, runner_state

from pixity.domain import Bias, RunnerState, RunnerStatus, SignalState
from pixity.stores import ConfigReader, ConfigStore, StorePaths


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return StorePaths(tmp_path).config


@pytest.fixture
def store(path: Path) -> Iterator[ConfigStore]:
    with ConfigStore(path) as opened:
        yield opened


@pytest.fixture
def reader(store: ConfigStore, path: Path) -> Iterator[ConfigReader]:
    with ConfigReader(path) as opened:
        yield opened


STATES = [
    runner_state(),
    runner_state(last_bar_ts=None, status=RunnerStatus.STARTING, last_error=None),
    *[runner_state(current_bias=b) for b in Bias],
    *[runner_state(signal_state=s) for s in SignalState],
    *[runner_state(status=s, last_error=None) for s in RunnerStatus if s is not RunnerStatus.ERROR],
]


@pytest.mark.parametrize("written", STATES)
def test_runner_state_round_trips_every_field(
    store: ConfigStore, reader: ConfigReader, written: RunnerState
) -> None:
    store.upsert_runner_state(written)
    (stored,) = reader.runner_states()
    for field in dataclasses.fields(RunnerState):
        assert getattr(stored.state, field.name) == getattr(written, field.name), field.name
    assert stored.state == written
    assert abs(stored.updated_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_upsert_replaces_the_row_and_stamps_updated_at(
    store: ConfigStore, reader: ConfigReader
) -> None:
    first = runner_state(status=RunnerStatus.STARTING, last_error=None, last_bar_ts=None)
    store.upsert_runner_state(first)
    store.connection.execute("UPDATE runner_state SET updated_at = '2020-01-01 00:00:00'")
    assert reader.last_update() == datetime(2020, 1, 1, tzinfo=UTC)
    running = dataclasses.replace(first, status=RunnerStatus.RUNNING, current_bias=Bias.BUY)
    store.upsert_runner_state(running)
    store.upsert_runner_state(running)  # a replay keeps one row
    (stored,) = reader.runner_states(strategy_id=STRATEGY)
    assert stored.state == running
    assert stored.updated_at > datetime(2020, 1, 1, tzinfo=UTC)
    assert reader.last_update() == stored.updated_at


def test_runner_states_by_strategy(store: ConfigStore, reader: ConfigReader) -> None:
    assert reader.last_update() is None
    states = [runner_state(SYM2), runner_state(SYM), runner_state(SYM, strategy_id="other_1")]
    for state in states:
        store.upsert_runner_state(state)
        time.sleep(0.001)
    assert [s.state for s in reader.runner_states()] == [states[2], states[0], states[1]]
    assert [s.state for s in reader.runner_states(STRATEGY)] == [states[0], states[1]]
    assert reader.runner_states("none") == []


def write_v1_config(path: Path) -> None:
    """Write config.db as the release before session_status did (schema version 1)."""
    from pixity.stores.config import CONFIG
    from pixity.stores.sqlite import SqliteWriter, StoreSpec

    v1 = StoreSpec(name=CONFIG.name, writer=CONFIG.writer, migrations=CONFIG.migrations[:1])
    with SqliteWriter(path, v1, busy_timeout_s=1) as old, old.transaction("old state") as conn:
        conn.execute(
            "INSERT INTO runner_state (symbol, strategy_id, timeframe, current_bias, "
            "signal_state, last_bar_ts, status, last_error) VALUES (?, ?, '15m', 'BUY', "
            "'IDLE', NULL, 'RUNNING', NULL)",
            (SYM, STRATEGY),
        )


def test_a_version_1_store_is_read_until_the_session_migrates_it(path: Path) -> None:
    write_v1_config(path)
    with ConfigReader(path) as reader:  # what health and the scanner open
        [row] = reader.runner_states()
        assert (row.state.symbol, row.state.status) == (SYM, RunnerStatus.RUNNING)
        assert reader.session_status() is None  # the table does not exist yet
    with ConfigStore(path) as store:  # the live session's next start migrates it
        assert store.connection.execute("PRAGMA user_version").fetchone() == (2,)
    with ConfigReader(path) as reader:
        assert [r.state.symbol for r in reader.runner_states()] == [SYM]  # rows kept
        assert reader.session_status() is None
