"""`c360 sync run`: mirror MongoDB's profiles, identity events and events into Delta Lake tables."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from c360.bootstrap import lake_sync
from c360.service import start_service
from c360.settings import load_settings
from sync.stream import BatchReport

app = typer.Typer(help="Sync MongoDB change streams into Delta Lake tables.", no_args_is_help=True)
console = Console()


class _Totals:
    """Rows, errors and the latest lag per table, for the live display."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.erased: dict[str, int] = defaultdict(int)
        self.lag: dict[str, float] = {}
        self.batch: dict[str, int] = {}

    def add(self, report: BatchReport) -> None:
        self.rows[report.table] += report.rows
        self.errors[report.table] += report.errors
        self.erased[report.table] += report.erased
        self.batch[report.table] = report.batch
        if report.lags_s:
            self.lag[report.table] = max(report.lags_s)

    def render(self, seconds: float) -> Table:
        table = Table(title=f"c360 sync, {seconds:,.0f} s")
        for column in ("table", "batch", "rows", "error rows", "erased", "last lag"):
            table.add_column(column, justify="left" if column == "table" else "right")
        for name in sorted(self.rows):
            lag = self.lag.get(name)
            table.add_row(
                name,
                f"{self.batch[name]:,}",
                f"{self.rows[name]:,}",
                f"{self.errors[name]:,}",
                f"{self.erased[name]:,}",
                "-" if lag is None else f"{lag:.2f} s",
            )
        return table


@app.command()
def run(
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics (c360_sync_lag_seconds, ...) on this port.")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No live table (for logs and services).")] = False,
) -> None:
    """Follow MongoDB's change streams into the Delta tables under lake.path until Ctrl-C or SIGTERM.

    Exactly once: every commit carries its resume token, so a killed sync resumes where its last commit
    ended. The first start (and a start after MongoDB lost the stream's history) copies the collections
    as a new epoch. Run one sync per lake.

    Example:

        C360_MONGO__URI=mongodb://mongo:27017/?replicaSet=rs0 C360_LAKE__PATH=/data/lake \\
        c360 sync run --metrics-port 9361
    """
    stop = start_service(metrics_port)
    settings = load_settings()
    console.print(f"syncing {settings.mongo.database} into {settings.lake.path}")
    totals = _Totals()
    started = time.monotonic()
    with Live(console=console, refresh_per_second=2, transient=True, auto_refresh=not quiet) as live:

        def show(report: BatchReport) -> None:
            totals.add(report)
            if not quiet:
                live.update(totals.render(time.monotonic() - started))

        with lake_sync(settings, on_commit=show) as sync:
            sync.run(stop)
    console.print(totals.render(time.monotonic() - started))
