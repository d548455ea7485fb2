"""Prometheus metrics of this process: API request latency, the ingest metrics (event-to-profile
freshness, lag) when ingest runs in it as in the demo, and every worker's reported lag from MongoDB."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

import ingest.metrics  # noqa: F401  (registers the freshness and lag metrics in this process too)
from api.deps import WorkersDep

router = APIRouter(tags=["health"])
WORKER_LAG = Gauge(
    "c360_ingest_worker_lag_records", "Records behind, as each live ingest worker last reported", ["worker"]
)
LIVE = timedelta(seconds=15)


@router.get("/metrics", summary="Prometheus text exposition", response_class=Response)
def metrics(workers: WorkersDep) -> Response:
    WORKER_LAG.clear()
    for worker in workers.alive(LIVE):
        WORKER_LAG.labels(worker["_id"]).set(worker.get("lag", 0))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
