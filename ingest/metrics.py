"""Prometheus metrics of the ingest path (served by `c360 ingest run --metrics-port` and the API)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECORDS = Counter("c360_ingest_records_total", "Kafka records handled", ["topic", "outcome"])
BATCH_SECONDS = Histogram("c360_ingest_batch_seconds", "Time to make one micro-batch durable")
FRESHNESS_SECONDS = Histogram(
    "c360_event_to_profile_seconds",
    "From the Kafka record timestamp to the profile update being durable in MongoDB",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
LAG = Gauge(
    "c360_ingest_lag_records",
    "Records behind the high watermark, per assigned partition",
    ["topic", "partition"],
)
