"""The access token never shows: Secret, redaction, and a full connect/fail/reconnect cycle."""

from __future__ import annotations

import logging
import pickle
import random

import pytest
from upstox_fakes import (
    KEYS,
    TOKEN,
    FakeAuthorize,
    FakeFeed,
    Plan,
    Recorder,
    eventually,
    run_async,
    running,
)

from pixity.clock import WallClock
from pixity.errors import ConfigError
from pixity.feeds.secret import RedactFilter, RedactingLogger, Secret, redact
from pixity.feeds.upstox import UpstoxFeed, UpstoxFeedConfig


def test_secret_never_prints_its_value() -> None:
    secret = Secret(f"  {TOKEN}\n")
    assert secret.reveal() == TOKEN
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr([secret])):
        assert TOKEN not in shown and "***" in shown
    config = UpstoxFeedConfig(keys=KEYS, token=secret)
    assert TOKEN not in repr(config)
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_secret_from_env_rereads_and_remembers_every_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIXITY_TEST_TOKEN", "first-token-111")
    secret = Secret.from_env("PIXITY_TEST_TOKEN")
    assert secret.reveal() == "first-token-111"
    monkeypatch.setenv("PIXITY_TEST_TOKEN", "second-token-222")
    assert secret.reveal() == "second-token-222"
    text = redact("old first-token-111 new second-token-222", [secret])
    assert "first-token" not in text and "second-token" not in text
    monkeypatch.delenv("PIXITY_TEST_TOKEN")
    with pytest.raises(ConfigError, match="PIXITY_TEST_TOKEN"):
        secret.reveal()
    with pytest.raises(ConfigError):
        Secret.from_env("PIXITY_TEST_TOKEN")


@pytest.mark.parametrize(
    "text",
    [
        "> Authorization: Bearer abc.def-123",
        "header authorization=whatever-it-is",
        "sent Bearer abc.def-123 to the server",
        "> GET /feeds?requestId=1&code=abc.def-123 HTTP/1.1",
        "wss://h/feeds?code=abc.def-123&requestId=2",
    ],
)
def test_redact_masks_credential_shapes_without_knowing_the_value(text: str) -> None:
    assert "abc.def-123" not in redact(text)
    assert "whatever-it-is" not in redact(text)


def test_redacting_logger_and_filter_mask_messages_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = Secret(TOKEN)
    inner = logging.getLogger("tests.redacting")
    adapter = RedactingLogger(inner, lambda text: redact(text, [secret]))
    caplog.set_level(logging.DEBUG)
    try:
        raise RuntimeError(f"boom with {TOKEN}")
    except RuntimeError:
        adapter.error("failed for %s", TOKEN, exc_info=True)
    outer = logging.LoggerAdapter(adapter, {"websocket": None})  # as websockets wraps it
    outer.debug("> %s: %s", "Authorization", f"Bearer {TOKEN}")
    plain = logging.getLogger("tests.filtered")
    record = plain.makeRecord(plain.name, logging.INFO, __file__, 1, "t=%s", (TOKEN,), None)
    assert RedactFilter(secret).filter(record)
    assert TOKEN not in record.getMessage()
    assert TOKEN not in caplog.text
    assert len(caplog.records) == 2 and "RuntimeError" in caplog.records[0].getMessage()


def test_token_never_reaches_logs_exceptions_or_status(caplog: pytest.LogCaptureFixture) -> None:
    """Drive every path that handles the token, with every logger at DEBUG, and look for it."""
    caplog.set_level(logging.DEBUG)
    reasons: list[str] = []
    shown: list[str] = []

    def feed_for(url: str, events: Recorder) -> UpstoxFeed:
        config = UpstoxFeedConfig(
            keys=KEYS,
            token=Secret(TOKEN),
            feed_url=url,
            open_timeout_s=1.0,
            backoff_initial_s=0.02,
            backoff_max_s=0.05,
            close_timeout_s=0.5,
        )
        return UpstoxFeed(
            config, events, clock=WallClock(), market_open=lambda: True, rng=random.Random(3)
        )

    def fail(n: int) -> BaseException | None:
        return RuntimeError(f"consumer saw {TOKEN}") if n == 1 else None

    async def cycle(feed: UpstoxFeed, done: object) -> None:
        async with running(feed):
            await eventually(done)  # type: ignore[arg-type]
            shown.append(repr(feed.status()))
        shown.append(repr(feed.status()))

    async def scenario() -> None:
        # direct connect with the bearer header; dropped, reconnected; a consumer error
        events = Recorder(fail)
        plans = {0: Plan(frames=2, then="abort")}
        async with FakeFeed(lambda n: plans.get(n, Plan(frames=1))) as server:
            feed = feed_for(server.url, events)
            await cycle(feed, lambda: len(server.conns) >= 2 and len(events.frames) >= 3)
            assert server.conns[0].authorization == f"Bearer {TOKEN}"
            reasons.extend(r for _, r in events.disconnected)
            # the authorize flow: the authorized URI's one-time code is secret too
            events = Recorder()
            with FakeAuthorize(server.url) as auth:
                feed = feed_for(auth.url, events)
                await cycle(feed, lambda: len(events.frames) >= 1)
            reasons.extend(r for _, r in events.disconnected)
        # a token refused by the authorize endpoint, then by the websocket upgrade
        for status_code in (401, 403):
            with FakeAuthorize("ws://127.0.0.1:9/", status=status_code) as auth:
                feed = feed_for(auth.url, Recorder())
                # the fake counts a call when it answers; the feed counts the refusal
                # only once it has read that answer, so wait on the feed's own count
                await cycle(feed, lambda: feed.status().token_rejections >= 2)  # noqa: B023
                status = feed.status()
                assert len(auth.calls) >= 2
                assert status.last_error is not None
                assert "token rejected" in status.last_error
                assert "UPSTOX_ACCESS_TOKEN" in status.last_error
        async with FakeFeed(reject_status=401) as server:
            feed = feed_for(server.url, Recorder())
            await cycle(feed, lambda: feed.status().token_rejections >= 2)
            assert server.handshakes >= 2

    run_async(scenario, timeout_s=20)
    assert any(r.name == "pixity.feeds.upstox.ws" for r in caplog.records)  # headers were logged
    everything = [caplog.text, *reasons, *shown]
    everything += [r.getMessage() for r in caplog.records]
    for text in everything:
        assert TOKEN not in text
        assert "CODE-" not in text
