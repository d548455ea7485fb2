"""Prometheus metrics of the sync (served by `c360 sync run --metrics-port`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LAG_SECONDS = Histogram(
    "c360_sync_lag_seconds",
    "From a MongoDB change (its wallTime) to its row being committed to Delta Lake",
    ["table"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
LAST_LAG = Gauge("c360_sync_last_lag_seconds", "Largest lag in the last committed batch", ["table"])
CHANGES = Counter(
    "c360_sync_changes_total",
    "Changes handled: written, error (written as an error row), skipped",
    ["table", "outcome"],
)
