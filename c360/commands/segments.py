"""`c360 segments apply` and `c360 export segments`: segment membership and nightly exports."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from c360.bootstrap import apply_segments, export_day
from c360.settings import load_settings

app = typer.Typer(help="Segments defined in lake.segments_file (YAML).", no_args_is_help=True)
export_app = typer.Typer(help="Nightly exports for marketing.", no_args_is_help=True)
console = Console()


@app.command()
def apply() -> None:
    """Evaluate every segment now and write each live profile's membership to MongoDB (`segments`).

    Example:

        C360_LAKE__SEGMENTS_FILE=segments.yaml c360 segments apply
    """
    result = apply_segments(load_settings())
    console.print(
        f"{result.profiles_in_segments:,} profiles in at least one segment; "
        f"{result.profiles_updated:,} profiles updated in MongoDB"
    )


@export_app.command("segments")
def export_segments(
    day: Annotated[
        datetime | None,
        typer.Option("--date", formats=["%Y-%m-%d"], help="The day to export, as of its end (UTC)."),
    ] = None,
) -> None:
    """Write every segment's audience as Parquet and CSV plus manifest.json under
    `lake.exports_path/<date>/`. Marketing segments leave out people without marketing consent. A past
    date is read by Delta time travel, so rerunning it writes identical files.

    Example (cron, 02:00 every night, yesterday's date):

        0 2 * * *  cd /srv/c360 && .venv/bin/c360 export segments --date $(date -u -d yesterday +\\%F)
    """
    chosen: date = day.date() if day else datetime.now(UTC).date()
    result = export_day(load_settings(), chosen)
    table = Table("segment", "rows", "suppressed", "entered", "exited")
    for entry in result.manifest["segments"]:
        table.add_row(
            entry["segment"],
            f"{entry['rows']:,}",
            f"{entry['suppressed_without_consent']:,}",
            "-" if entry["entered"] is None else f"{entry['entered']:,}",
            "-" if entry["exited"] is None else f"{entry['exited']:,}",
        )
    console.print(table)
    console.print(f"written to {result.directory}")
