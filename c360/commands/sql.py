"""`c360 sql`: one SQL query over the lakehouse views, shown as a table or written to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from c360.bootstrap import lake_location
from c360.settings import load_settings
from lakehouse.files import Format, write_table
from lakehouse.results import LazyResult
from lakehouse.tables import Lakehouse

console = Console()
SHOWN_ROWS = 50


def sql(
    query: Annotated[str, typer.Argument(help="DuckDB SQL over the views (profiles, events, ...).")],
    format: Annotated[
        Format | None, typer.Option("--format", help="Write the full result as csv, parquet or json lines.")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="File to write (default: `result.<format>`).")] = None,
) -> None:
    """Query the Delta tables with DuckDB SQL.

    Views: profiles (live), profiles_current, profile_changes, identity_changes, events (profile_id
    resolved through merges), sync_errors. Macros: as_of(), stat_count(stats, type),
    stat_amount(stats, type), has_identifier(identifiers, type).

    Examples:

        c360 sql "SELECT type, count(*), sum(amount) FROM events GROUP BY ALL ORDER BY 2 DESC"

        c360 sql "SELECT * FROM profiles WHERE stat_amount(stats, 'order') > 500" --format parquet
    """
    rows = LazyResult(Lakehouse(lake_location(load_settings())).duckdb(), query).to_arrow()
    if format is not None:
        path = output or Path(f"result.{format}")
        write_table(rows, path, format)
        console.print(f"{rows.num_rows:,} rows written to {path}")
        return
    table = Table(*rows.column_names)
    for row in rows.slice(0, SHOWN_ROWS).to_pylist():
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)
    more = f", first {SHOWN_ROWS} shown (--format to write all)" if rows.num_rows > SHOWN_ROWS else ""
    console.print(f"{rows.num_rows:,} rows{more}")
