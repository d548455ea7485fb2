"""What every long-running command (ingest, sync) sets up before its loop: logs, signals, metrics."""

from __future__ import annotations

import logging
import signal
import threading

from prometheus_client import start_http_server


def start_service(metrics_port: int | None) -> threading.Event:
    """Warnings logged with times; SIGINT/SIGTERM set the returned event (a graceful stop); Prometheus
    metrics served on `metrics_port` when given."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if metrics_port is not None:
        start_http_server(metrics_port)
    return stop
