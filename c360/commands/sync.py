"""`c360 sync run`: mirror MongoDB's profiles, identity events and events into Delta Lake tables;
`c360 sync vacuum`: delete the files of versions older than the retention (erased rows' last copies)."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from c360.bootstrap import lake_location, lake_sync
from c360.progress import progress_bar
from c360.service import start_service
from c360.settings import MIN_HISTORY_RETENTION_HOURS, load_settings
from sync.lease import LakeLeased, LeaseLost, UnsafeStore
from sync.stream import BatchReport
from sync.tables import ALL_TABLES
from sync.vacuum import vacuum_tables

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
    as a new epoch.

    One sync per lake: the sync holds a lease in the lake (`_c360/sync-lease/`), and a second one
    pointed at the same lake exits with an error naming the first. On an object store the sync first
    checks that the store honours conditional writes (If-None-Match), and refuses one that does not
    unless lake.allow_store_without_conditional_put is set.

    Example:

        C360_MONGO__URI=mongodb://mongo:27017/?replicaSet=rs0 C360_LAKE__PATH=/data/lake \\
        c360 sync run --metrics-port 9361

    On S3 (credentials from the usual AWS_* variables, or lake.storage):

        C360_LAKE__PATH=s3://my-bucket/c360/lake AWS_REGION=eu-west-1 c360 sync run
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

        try:
            with lake_sync(settings, on_commit=show) as sync:
                sync.run(stop)
        except (LakeLeased, LeaseLost, UnsafeStore) as exc:
            console.print(f"c360 sync run: {exc}", style="red", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
    console.print(totals.render(time.monotonic() - started))


@app.command()
def vacuum(
    retention_hours: Annotated[
        int | None,
        typer.Option(
            help="Keep the files of the versions of this many hours (default: lake.history_retention_hours)."
        ),
    ] = None,
) -> None:
    """Delete the files of every sync table that no version of the last --retention-hours reads.

    Why: an erasure deleted in MongoDB reaches the Delta tables as a DELETE, which writes new files
    without the person's rows; the old files keep them, for time travel, until vacuumed. After this, no
    file holds rows erased more than the retention ago, and the tables can no longer travel back further
    than that (`c360 export segments` for an older date fails). Files no commit names (left by a sync
    killed mid-write) go too, once older than the retention.

    When: nightly, beside a running sync (files younger than the retention are kept, a running sync's
    uncommitted files among them; hence at least 1 hour):

        30 2 * * *  cd /srv/c360 && .venv/bin/c360 sync vacuum
    """
    settings = load_settings()
    hours = settings.lake.history_retention_hours if retention_hours is None else retention_hours
    if hours < MIN_HISTORY_RETENTION_HOURS:
        raise typer.BadParameter(
            f"{hours} is under {MIN_HISTORY_RETENTION_HOURS} hour: a running sync's files that are not "
            "committed yet would be deleted",
            param_hint="--retention-hours",
        )
    lake = lake_location(settings)
    console.print(f"vacuuming {lake}, keeping {hours:,} hours of history")
    removed: dict[str, int | None] = {}
    with progress_bar(unit="tables") as bar:
        task = bar.add_task("tables", total=len(ALL_TABLES))
        for name, files in vacuum_tables(lake, hours):
            removed[name] = files
            bar.advance(task)
    report = Table(title="c360 sync vacuum")
    report.add_column("table")
    report.add_column("files removed", justify="right")
    for name, files in removed.items():
        report.add_row(name, "not created yet" if files is None else f"{files:,}")
    console.print(report)
