"""`pixity history fetch`: the Upstox historical-candle API, against a real local HTTP server."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from history_fakes import KEY, KEY2, TOKEN, FakeUpstox, expected_frame, running, trading_days
from hypothesis import given
from hypothesis import strategies as st

from pixity import cli
from pixity.feeds.secret import Secret
from pixity.history.upstox_fetch import chunk_ranges, fetch_symbol
from pixity.history.upstox_http import (
    FetchPolicy,
    UpstoxCandles,
    UpstoxRequestError,
    UpstoxResponseError,
    UpstoxTokenError,
    UpstoxUnavailableError,
)
from pixity.history.validate import BadRowsError
from pixity.stores.lake import available_dates, read_bars

JUNE = (date(2025, 6, 2), date(2025, 6, 6))
FAST = FetchPolicy(timeout_s=5.0, attempts=4, backoff_s=0.5, backoff_max_s=2.0)


@pytest.fixture
def fake() -> Iterator[FakeUpstox]:
    with running(FakeUpstox()) as server:
        yield server


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> Secret:
    monkeypatch.setenv("UPSTOX_ACCESS_TOKEN", TOKEN)
    return Secret.from_env("UPSTOX_ACCESS_TOKEN")


class Sleeps(list[float]):
    """An injected sleep that records the pauses instead of taking them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(
    fake: FakeUpstox, token: Secret, policy: FetchPolicy = FAST, v3: bool = False
) -> tuple[UpstoxCandles, Sleeps]:
    sleeps = Sleeps()
    url = fake.url_v3 if v3 else fake.url
    return UpstoxCandles(api_url=url, token=token, policy=policy, sleep=sleeps), sleeps


def fetch(c: UpstoxCandles, data_dir: Path, first: date, last: date, **kw: bool):  # type: ignore[no-untyped-def]
    return fetch_symbol(c, KEY, first, last, data_dir=data_dir, **kw)


# ---------------------------------------------------------------- the happy path


@pytest.mark.parametrize("v3", [False, True])
def test_fetch_result_equals_the_servers_candles(
    tmp_path: Path, fake: FakeUpstox, token: Secret, v3: bool
) -> None:
    fake.minutes = tuple(range(375))  # whole days
    c, sleeps = client(fake, token, v3=v3)
    summary = fetch(c, tmp_path, *JUNE)
    expected = fake.bars(KEY, *JUNE)
    pd.testing.assert_frame_equal(read_bars(tmp_path, [KEY]), expected_frame(expected))
    assert (summary.written, summary.rows, summary.days) == (
        len(expected),
        len(expected),
        tuple(trading_days(*JUNE)),
    )
    (seen,) = fake.requests
    version, interval = ("v3", "minutes/1") if v3 else ("v2", "1minute")
    assert (
        seen.path
        == f"/{version}/historical-candle/NSE_EQ%7CINE155A01022/{interval}/2025-06-06/2025-06-02"
    )
    assert (seen.authorization, seen.accept) == (f"Bearer {TOKEN}", "application/json")
    assert sleeps == []


def test_a_long_range_is_fetched_in_chunks_the_api_allows(
    tmp_path: Path, fake: FakeUpstox, token: Secret
) -> None:
    first, last = date(2024, 11, 1), date(2025, 3, 31)
    c, _ = client(fake, token)
    summary = fetch(c, tmp_path, first, last)
    asked = sorted((r.first, r.last) for r in fake.requests)
    days = trading_days(first, last)
    assert asked[0][0] == days[0] and asked[-1][1] == days[-1]
    for (_, end), (start, _) in itertools.pairwise(asked):
        assert start == end + timedelta(days=1)  # contiguous, no overlap
    assert all((end - start).days < 28 for start, end in asked)
    assert len(asked) == len(chunk_ranges(days[0], days[-1], 28))
    assert available_dates(tmp_path) == days
    pd.testing.assert_frame_equal(
        read_bars(tmp_path, [KEY]), expected_frame(fake.bars(KEY, first, last))
    )
    assert summary.days == tuple(days)


def test_a_range_without_a_trading_day_asks_nothing_and_writes_nothing(
    tmp_path: Path, fake: FakeUpstox, token: Secret
) -> None:
    c, _ = client(fake, token)
    summary = fetch(c, tmp_path, date(2025, 6, 7), date(2025, 6, 8))  # a weekend
    assert (summary.written, fake.requests) == (0, [])
    assert not tmp_path.joinpath("history").exists()


@given(
    first=st.dates(date(2020, 1, 1), date(2030, 1, 1)),
    span=st.integers(0, 400),
    days=st.integers(1, 28),
)
def test_chunks_cover_the_range_exactly_and_stay_within_a_month(
    first: date, span: int, days: int
) -> None:
    last = first + timedelta(days=span)
    chunks = chunk_ranges(first, last, days)
    assert chunks[0][0] == first and chunks[-1][1] == last
    assert all(0 <= (end - start).days < days for start, end in chunks)
    assert all(b[0] == a[1] + timedelta(days=1) for a, b in itertools.pairwise(chunks))


# ---------------------------------------------------------------- retries, bounded


def test_429_then_200_is_retried_after_a_backoff(
    tmp_path: Path, fake: FakeUpstox, token: Secret
) -> None:
    fake.script = ["429", "503"]
    c, sleeps = client(fake, token)
    fetch(c, tmp_path, *JUNE)
    assert len(fake.requests) == 3
    assert sleeps == [0.5, 1.0]
    assert available_dates(tmp_path) == trading_days(*JUNE)


def test_retry_after_lengthens_a_pause_within_the_cap(
    tmp_path: Path, fake: FakeUpstox, token: Secret
) -> None:
    fake.retry_after = "1.5"
    fake.script = ["429"]
    c, sleeps = client(fake, token)
    fetch(c, tmp_path, *JUNE)
    fake.retry_after = "3600"
    fake.script = ["429"]
    fetch(c, tmp_path, *JUNE)
    assert sleeps == [1.5, FAST.backoff_max_s]


@pytest.mark.parametrize("answer", ["500", "502", "503", "429"])
def test_retries_are_bounded_then_the_fetch_fails_writing_nothing(
    tmp_path: Path, fake: FakeUpstox, token: Secret, answer: str
) -> None:
    fake.script = [answer] * 10
    c, sleeps = client(fake, token)
    with pytest.raises(UpstoxUnavailableError, match=f"HTTP {answer}"):
        fetch(c, tmp_path, *JUNE)
    assert len(fake.requests) == FAST.attempts
    assert sleeps == [0.5, 1.0, 2.0]  # doubling, capped at backoff_max_s
    assert not tmp_path.joinpath("history").exists()


def test_a_stalled_server_times_out_each_attempt_and_is_retried(
    tmp_path: Path, fake: FakeUpstox, token: Secret
) -> None:
    fake.stall_s = 1.5
    fake.script = ["timeout", "timeout"]
    policy = FetchPolicy(timeout_s=0.3, attempts=2, backoff_s=0.0, backoff_max_s=0.0)
    c, _ = client(fake, token, policy)
    started = time.monotonic()
    with pytest.raises(UpstoxUnavailableError, match="0.3s"):
        fetch(c, tmp_path, *JUNE)
    assert time.monotonic() - started < 1.5  # both waits were cut at the timeout
    assert len(fake.requests) == 2
    fake.script = ["timeout"]
    fetch(c, tmp_path, *JUNE)  # one stall, then an answer: the retry recovers
    assert available_dates(tmp_path) == trading_days(*JUNE)


def test_a_later_chunk_failing_leaves_the_symbol_unwritten(
    tmp_path: Path, fake: FakeUpstox, token: Secret
) -> None:
    fake.fail_from = 3
    c, _ = client(fake, token, FetchPolicy(attempts=1))
    with pytest.raises(UpstoxUnavailableError, match="HTTP 500"):
        fetch(c, tmp_path, date(2025, 1, 1), date(2025, 3, 31))
    assert len(fake.requests) == 3
    assert not tmp_path.joinpath("history").exists()


# ---------------------------------------------------------------- refusals


def test_401_says_the_token_expired_and_is_not_retried(
    tmp_path: Path, fake: FakeUpstox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSTOX_ACCESS_TOKEN", "yesterdays-token")
    c, sleeps = client(fake, Secret.from_env("UPSTOX_ACCESS_TOKEN"))
    with pytest.raises(UpstoxTokenError) as caught:
        fetch(c, tmp_path, *JUNE)
    message = str(caught.value)
    assert "401" in message and "UDAPI100050" in message
    assert "03:30 IST" in message and "UPSTOX_ACCESS_TOKEN" in message
    assert "yesterdays-token" not in message
    assert (len(fake.requests), sleeps) == (1, [])
    assert not tmp_path.joinpath("history").exists()


@pytest.mark.parametrize("code", ["400", "403", "404"])
def test_other_4xx_carry_the_apis_message_and_are_not_retried(
    tmp_path: Path, fake: FakeUpstox, token: Secret, code: str
) -> None:
    fake.script = [code]
    c, sleeps = client(fake, token)
    with pytest.raises(UpstoxRequestError) as caught:
        fetch(c, tmp_path, *JUNE)
    assert f"HTTP {code}" in str(caught.value) and f"UDAPI{code} scripted {code}" in str(
        caught.value
    )
    assert (len(fake.requests), sleeps) == (1, [])


def test_a_redirect_is_refused_so_the_token_goes_nowhere_else(
    tmp_path: Path, fake: FakeUpstox, token: Secret
) -> None:
    fake.script = ["redirect"]
    c, _ = client(fake, token)
    with pytest.raises(UpstoxRequestError, match="302"):
        fetch(c, tmp_path, *JUNE)
    assert [r.path.split("/")[1] for r in fake.requests] == ["v2"]


@pytest.mark.parametrize("answer", ["malformed", "not-success"])
def test_an_answer_that_is_not_the_documented_json_is_an_error(
    tmp_path: Path, fake: FakeUpstox, token: Secret, answer: str
) -> None:
    fake.script = [answer]
    c, _ = client(fake, token)
    with pytest.raises(UpstoxResponseError):
        fetch(c, tmp_path, *JUNE)
    assert not tmp_path.joinpath("history").exists()


# ---------------------------------------------------------------- the candles are checked


def spoil(candles: list[list[object]]) -> list[list[object]]:
    """Break three candles of the answer (newest first, so positions count from the end)."""
    candles[0] = [*candles[0][:4], 0, *candles[0][5:]]  # close 0
    candles[1] = ["2025-06-02T15:30:00+05:30", *candles[1][1:]]  # the close, not a bar
    candles[2] = candles[2][:3]  # the wrong shape
    return candles


def test_bad_candles_are_refused_with_their_place_and_nothing_written(
    tmp_path: Path, fake: FakeUpstox, token: Secret
) -> None:
    fake.mutate = spoil
    c, _ = client(fake, token)
    with pytest.raises(BadRowsError) as caught:
        fetch(c, tmp_path, *JUNE)
    assert [(b.place, b.line) for b in caught.value.bad] == [
        ("2025-06-02..2025-06-06 candle", n) for n in (1, 2, 3)
    ]
    assert not tmp_path.joinpath("history").exists()


def test_candles_outside_the_range_asked_for_are_bad(
    tmp_path: Path, fake: FakeUpstox, token: Secret
) -> None:
    fake.mutate = lambda candles: [["2025-05-30T09:15:00+05:30", 1, 1, 1, 1, 1, 0], *candles]
    c, _ = client(fake, token)
    with pytest.raises(BadRowsError) as caught:
        fetch(c, tmp_path, *JUNE)
    assert [b.line for b in caught.value.bad] == [1]


def test_skip_bad_writes_the_good_candles(tmp_path: Path, fake: FakeUpstox, token: Secret) -> None:
    fake.mutate = spoil
    c, _ = client(fake, token)
    summary = fetch(c, tmp_path, *JUNE, skip_bad=True)
    good = fake.bars(KEY, *JUNE)[:-3]  # spoil broke the three newest
    pd.testing.assert_frame_equal(read_bars(tmp_path, [KEY]), expected_frame(good))
    assert len(summary.skipped) == 3 and summary.written == len(good)


# ---------------------------------------------------------------- the command and the token


def run_cli(
    fake: FakeUpstox, tmp_path: Path, *extra: str, symbols: tuple[str, ...] = (KEY,)
) -> int:
    return cli.main(
        ["history", "fetch", "--symbols", *symbols, "--from", "2025-06-02", "--to", "2025-06-06",
         "--api-url", fake.url, "--data-dir", str(tmp_path), "--log-level", "DEBUG", *extra]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("script", "extra", "code"),
    [
        ([], (), 0),
        (["429"], (), 0),
        (["echo", "echo"], ("--retries", "1"), 1),  # the server repeats the header back
        (["echo"], ("--retries", "0"), 1),
        (["400"], (), 2),
        (["malformed"], (), 1),
        (["timeout"], ("--timeout", "0.2", "--retries", "0"), 1),
    ],
)
def test_the_token_never_reaches_output_or_logs(
    tmp_path: Path,
    fake: FakeUpstox,
    token: Secret,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    script: list[str],
    extra: tuple[str, ...],
    code: int,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.script = list(script)
    assert run_cli(fake, tmp_path, *extra) == code
    out, err = capsys.readouterr()
    logged = caplog.text + "".join(repr(r.args) + str(r.exc_info) for r in caplog.records)
    assert fake.requests and all(r.authorization == f"Bearer {TOKEN}" for r in fake.requests)
    assert TOKEN not in out + err + logged
    assert "Traceback" not in err
    if code == 0:
        assert "wrote" in out and available_dates(tmp_path) == trading_days(*JUNE)


def test_the_command_needs_the_token_in_the_environment(
    tmp_path: Path,
    fake: FakeUpstox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("UPSTOX_ACCESS_TOKEN", raising=False)
    assert run_cli(fake, tmp_path) == 2
    assert "UPSTOX_ACCESS_TOKEN" in capsys.readouterr().err
    assert fake.requests == []


def test_the_command_stops_at_a_401_after_writing_the_symbols_before(
    tmp_path: Path, fake: FakeUpstox, token: Secret, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.expire_after = 1  # the token expires once the first symbol is in
    assert run_cli(fake, tmp_path, symbols=(KEY, KEY2)) == 2
    out, err = capsys.readouterr()
    assert set(read_bars(tmp_path)["symbol"]) == {KEY}
    assert KEY in out and "03:30 IST" in err and TOKEN not in out + err
