"""Prometheus metrics of activation (served by `c360 activate run --metrics-port`): how far behind MongoDB
the outbound streams are, what they sent, what the sweeper re-evaluated, what destinations delivered."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LAG_SECONDS = Histogram(
    "c360_activation_lag_seconds",
    "From a MongoDB change (its wallTime) to its records being acknowledged by Kafka",
    ["stream"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
LAST_LAG = Gauge("c360_activation_last_lag_seconds", "Largest lag in the last batch sent", ["stream"])
RECORDS = Counter("c360_activation_records_total", "Records acknowledged by Kafka", ["topic"])
EVALUATIONS = Counter(
    "c360_activation_evaluations_total",
    "Profiles whose real-time segments were evaluated, by trigger (change, sweep, backfill) and outcome",
    ["trigger", "outcome"],
)
DELIVERIES = Counter(
    "c360_activation_deliveries_total",
    "HTTP deliveries per destination: delivered, retried, dead_lettered, filtered (consent or segment)",
    ["destination", "outcome"],
)
