"""``/metrics``: the health counters in Prometheus text format, from a registry of our own."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pixity.ingest.health import IngestHealth


class IngestCollector(Collector):
    """Read the health counters at scrape time (no second set of counters to keep in step)."""

    def __init__(self, health: IngestHealth) -> None:
        self._health = health

    def collect(self) -> Iterator[Metric]:
        """Yield every ingest metric."""
        report = self._health.snapshot()
        yield CounterMetricFamily(
            "pixity_ingest_ticks", "Ticks accepted and stored", value=report["ticks_total"]
        )
        rejected = CounterMetricFamily(
            "pixity_ingest_ticks_rejected", "Inputs refused, by reason", labels=["reason"]
        )
        for reason, count in sorted(report["ticks_rejected"].items()):
            rejected.add_metric([reason], count)
        yield rejected
        yield CounterMetricFamily(
            "pixity_ingest_flush_failures", "Failed commits", value=report["flush_failures"]
        )
        yield CounterMetricFamily(
            "pixity_ingest_reconnects", "Feed reconnections", value=report["reconnects"]
        )
        yield GaugeMetricFamily(
            "pixity_ingest_buffer_depth", "Ticks not yet committed", value=report["buffer_depth"]
        )
        last_ms = report["last_flush_ms"]
        yield GaugeMetricFamily(
            "pixity_ingest_last_flush_seconds",
            "Duration of the last commit",
            value=0.0 if last_ms is None else last_ms / 1000,
        )
        yield from self._health.flush_seconds.collect()
        yield GaugeMetricFamily(
            "pixity_ingest_feed_connected",
            "1 if the feed is connected",
            value=int(report["feed_connected"]),
        )
        yield GaugeMetricFamily(
            "pixity_ingest_buffer_full",
            "1 if the tick buffer hit its cap",
            value=int(report["buffer_full"]),
        )
        yield GaugeMetricFamily(
            "pixity_ingest_wal_bytes",
            "Size of market.db's write-ahead log",
            value=report["wal_bytes"],
        )


def build_registry(health: IngestHealth) -> CollectorRegistry:
    """Return a registry (not the global one) holding the ingest collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(IngestCollector(health))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """Return the registry in Prometheus text format."""
    return generate_latest(registry)
