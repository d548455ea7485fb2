"""`c360 activate run`: real-time segments and the outbound streams (c360.profiles, c360.segment_changes,
c360.identity_changes) and HTTP destinations; `c360 activate replay`: dead-lettered deliveries again."""

from __future__ import annotations

import time
from collections import Counter
from contextlib import ExitStack
from typing import Annotated

import typer
from kafka.errors import KafkaError
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.table import Table

from activation.process import StepReport
from c360.bootstrap import activation, replay_dead_letters
from c360.service import start_service
from c360.settings import load_settings

app = typer.Typer(
    help="Act on profile changes: real-time segments, Kafka topics, HTTP destinations.", no_args_is_help=True
)
console = Console()


class _Status:
    """Totals for the live display."""

    def __init__(self) -> None:
        self.changes: Counter[str] = Counter()
        self.records = self.written = self.swept = 0
        self.lag: float | None = None

    def add(self, report: StepReport) -> None:
        self.changes.update(report.changes)
        self.records += report.records
        self.written += report.written
        self.swept += report.swept
        if report.lags_s:
            self.lag = max(report.lags_s)

    def render(self, seconds: float) -> Table:
        table = Table(title=f"c360 activate, {seconds:,.0f} s")
        for column in (
            "profile changes",
            "identity changes",
            "records sent",
            "memberships written",
            "swept",
            "last lag",
        ):
            table.add_column(column, justify="right")
        table.add_row(
            f"{self.changes['profiles']:,}",
            f"{self.changes['identity_events']:,}",
            f"{self.records:,}",
            f"{self.written:,}",
            f"{self.swept:,}",
            "-" if self.lag is None else f"{self.lag:.2f} s",
        )
        return table


@app.command()
def run(
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics (c360_activation_lag_seconds, ...) on this port."),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No live table (for logs and services).")] = False,
) -> None:
    """Follow MongoDB's change streams until Ctrl-C or SIGTERM: every profile change goes to c360.profiles
    and re-evaluates the profile's real-time segments (the `rule` segments of lake.segments_file), whose
    entries and exits go to c360.segment_changes; merges, splits and moves go to c360.identity_changes.

    At least once, in order per profile: each stream's resume position is stored in MongoDB after Kafka
    acknowledged its records, and every record carries an `idempotency-key` header (profile id and
    version). A sweeper moves profiles in and out of windowed segments when a window boundary passes.
    HTTP destinations (activation.destinations_file) are delivered by the same process.

    Example:

        C360_LAKE__SEGMENTS_FILE=segments.yaml c360 activate run --metrics-port 9362
    """
    stop = start_service(metrics_port)
    settings = load_settings()
    console.print(f"activating {settings.mongo.database} to {settings.kafka.bootstrap_servers}")
    status, started = _Status(), time.monotonic()
    with ExitStack() as stack:
        try:
            process = stack.enter_context(activation(settings))
        except (ValidationError, ValueError, OSError, KafkaError) as exc:  # a file, a secret, the brokers
            console.print(f"c360 activate run: {exc}", style="red", markup=False, highlight=False)
            raise typer.Exit(1) from None
        live = stack.enter_context(
            Live(console=console, refresh_per_second=2, transient=True, auto_refresh=not quiet)
        )
        while not stop.is_set():
            status.add(process.step())
            if not quiet:
                live.update(status.render(time.monotonic() - started))
    console.print(status.render(time.monotonic() - started))


@app.command()
def replay(
    destination: Annotated[str | None, typer.Option(help="Only this destination's dead letters.")] = None,
) -> None:
    """Send dead-lettered deliveries again (each once, with a fresh signature); those delivered leave the
    dead-letter collection, those that fail again stay with the new error.

    Example:

        C360_ACTIVATION__DESTINATIONS_FILE=destinations.yaml c360 activate replay --destination crm
    """
    try:
        result = replay_dead_letters(load_settings(), destination)
    except KeyError as exc:
        console.print(f"c360 activate replay: {exc.args[0]}", style="red", markup=False, highlight=False)
        raise typer.Exit(1) from None
    console.print(f"{result.delivered:,} delivered, {result.failed:,} failed again")
