"""`c360 ingest`: run one member of the ingest consumer group until interrupted."""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live

from c360.bootstrap import ingest_loop, ingest_topics
from c360.collector import settle_heap
from c360.ingest_loop import BatchOutcome, LoopTotals
from c360.service import start_service
from c360.settings import load_settings

app = typer.Typer(help="Consume the mapped Kafka topics into MongoDB profiles.", no_args_is_help=True)
console = Console()


@app.command()
def run(
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port (e.g. 9360).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No live status line (for logs and services).")] = False,
) -> None:
    """Join the consumer group (kafka.group_id) and ingest until Ctrl-C or SIGTERM.

    Start several on different machines or terminals to share the partitions. A graceful stop commits
    the batch in flight; a crash loses nothing either: uncommitted records are re-read and recognised.

    Example:

        C360_KAFKA__BOOTSTRAP_SERVERS=kafka:9092 C360_MONGO__URI=mongodb://mongo:27017/?replicaSet=rs0 \\
        c360 ingest run --metrics-port 9360
    """
    stop = start_service(metrics_port)
    settings = load_settings()
    console.print(
        f"ingesting {', '.join(ingest_topics(settings))} from {settings.kafka.bootstrap_servers} "
        f"into {settings.mongo.database} as group {settings.kafka.group_id}"
    )
    started = time.monotonic()
    with Live(console=console, refresh_per_second=4, transient=True) if not quiet else nullcontext() as live:

        def show(outcome: BatchOutcome) -> None:
            if live is not None:
                live.update(_status(loop.totals, time.monotonic() - started))

        with ingest_loop(settings, on_batch=show) as loop:
            settle_heap()
            totals = loop.run(stop)
    console.print(_status(totals, time.monotonic() - started))


def _status(totals: LoopTotals, seconds: float) -> str:
    rate = totals.records / seconds if seconds > 0 else 0.0
    return (
        f"records {totals.records:,}  applied {totals.applied:,}  duplicates {totals.duplicates:,}  "
        f"dead letters {totals.dead_letters:,}  suppressed (erased people) {totals.suppressed:,}  "
        f"({rate:,.0f} records/s)"
    )
