"""The feed adapter's own counts reach /health, and a frame that failed makes it degraded."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from pixity.ingest.health import IngestHealth
from pixity.ingest.metrics import build_registry, render


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


def test_commit_durations_reach_metrics_as_a_histogram() -> None:
    health = IngestHealth()
    registry = build_registry(health)
    empty = {s.name: s for s in _flush_family(render(registry))}
    assert empty["pixity_ingest_flush_seconds_count"].value == 0
    for elapsed_ms in (3.0, 5.0, 5.5, 60.0, 250.0, 12_000.0):  # 5 ms is in the 0.005 bucket
        health.flushed(elapsed_ms)
    health.flush_failed("disk I/O error")  # a failed commit is counted apart, not observed
    samples = _flush_family(render(registry))
    buckets = {
        s.labels["le"]: s.value for s in samples if s.name == "pixity_ingest_flush_seconds_bucket"
    }
    assert buckets["0.005"] == 2 and buckets["0.01"] == 3 and buckets["0.05"] == 3
    assert buckets["0.1"] == 4 and buckets["0.25"] == 5 and buckets["10.0"] == 5
    assert buckets["+Inf"] == 6 == health.flushes_total
    assert list(buckets.values()) == sorted(buckets.values())  # cumulative
    by_name = {s.name: s.value for s in samples}
    assert by_name["pixity_ingest_flush_seconds_count"] == 6
    assert abs(by_name["pixity_ingest_flush_seconds_sum"] - 12.3235) < 1e-9


def _flush_family(text: bytes) -> list[Sample]:
    for family in text_string_to_metric_families(text.decode()):
        if family.name == "pixity_ingest_flush_seconds":
            assert family.type == "histogram"
            return family.samples
    raise AssertionError("no pixity_ingest_flush_seconds in /metrics")
