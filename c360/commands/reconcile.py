"""`c360 reconcile`: recompute profiles from the lake's events and report drift against MongoDB."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from c360.bootstrap import reconcile_lake
from c360.settings import load_settings

console = Console()


def reconcile() -> None:
    """Diff every live profile in MongoDB against its recomputation from the lake's events.

    Aggregates are recomputed from the Delta events table with DuckDB and compared field by field;
    exit code 1 when anything drifted. Run it with ingest and sync caught up: changes in flight show
    up as drift.

    Example:

        c360 reconcile
    """
    report = reconcile_lake(load_settings())
    table = Table("field", "profiles drifted")
    for name, count in sorted(report.drift.items()):
        table.add_row(name, f"{count:,}")
    console.print(f"{report.profiles_checked:,} live profiles checked")
    if report.clean:
        console.print("no drift: MongoDB and the lake agree")
        return
    console.print(table)
    for example in report.examples:
        console.print(f"  {example}", markup=False)
    raise typer.Exit(1)
