"""The feed adapter's own counts reach /health, and a frame that failed makes it degraded."""

from __future__ import annotations

from dataclasses import dataclass

from pixity.ingest.health import IngestHealth


@dataclass(frozen=True)
class FeedStatusStub:
    connected: bool = True
    reconnects: int = 3
    watchdog: str = "ok"
    last_error: str | None = None
    handler_errors: int = 0
    text_messages: int = 1
    connect_failures: int = 2
    token_rejections: int = 0
    recycles: int = 1


def test_feed_counts_are_reported() -> None:
    health = IngestHealth()
    health.feed_connected = True
    health.feed_status = FeedStatusStub
    report = health.snapshot()
    assert report["feed_counts"] == {
        "frames_failed": 0,
        "text_messages": 1,
        "connect_failures": 2,
        "token_rejections": 0,
        "watchdog_recycles": 1,
    }
    assert report["reconnects"] == 3
    assert "frames_failed" not in report["reasons"]


def test_a_frame_that_failed_to_process_degrades_health() -> None:
    health = IngestHealth()
    health.feed_connected = True
    health.feed_status = lambda: FeedStatusStub(handler_errors=2)
    report = health.snapshot()
    assert report["feed_counts"]["frames_failed"] == 2
    assert report["status"] == "degraded" and "frames_failed" in report["reasons"]
