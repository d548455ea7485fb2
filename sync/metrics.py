"""Prometheus metrics of the sync (served by `c360 sync run --metrics-port`), recorded from each commit's
report in the process that serves them (the streams commit in worker processes)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from sync.stream import BatchReport

LAG_SECONDS = Histogram(
    "c360_sync_lag_seconds",
    "From a MongoDB change (its wallTime) to its row being committed to Delta Lake",
    ["table"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
LAST_LAG = Gauge("c360_sync_last_lag_seconds", "Largest lag in the last committed batch", ["table"])
CHANGES = Counter(
    "c360_sync_changes_total",
    "Changes handled: written, error (written as an error row), skipped, erased (a delete: rows removed)",
    ["table", "outcome"],
)


def record(report: BatchReport) -> None:
    name = report.table
    for lag in report.lags_s:
        LAG_SECONDS.labels(name).observe(lag)
    if report.lags_s:
        LAST_LAG.labels(name).set(max(report.lags_s))
    CHANGES.labels(name, "written").inc(report.rows - report.errors)
    CHANGES.labels(name, "error").inc(report.errors)
    CHANGES.labels(name, "skipped").inc(report.skipped)
    CHANGES.labels(name, "erased").inc(report.erased)
