"""`c360 segments apply` and `c360 export segments`: segment membership and nightly exports."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from c360.bootstrap import apply_segments, explain_segment, export_day
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


@app.command()
def explain(
    name: Annotated[str, typer.Argument(help="The segment, as named in lake.segments_file.")],
    profile_id: Annotated[str, typer.Argument(help="A profile id (a merged-away id means its survivor).")],
) -> None:
    """Why a profile is in a segment or not, value by value: each condition of a real-time segment's rule
    evaluated now on the stored profile, the membership activation stored, and when a window next
    changes the answer. For a lake-only segment (`where` or `query`), whether the lake selects it.

    Example:

        c360 segments explain churning p3f1c0a9d2b7e4f6a8c01
    """
    try:
        found = explain_segment(load_settings(), name, profile_id)
    except KeyError as exc:
        console.print(f"c360 segments explain: {exc.args[0]}", style="red", markup=False, highlight=False)
        raise typer.Exit(1) from None
    stored = found.stored
    since = "" if stored is None else f" (stored: in since {stored['entered_at']:%Y-%m-%d %H:%M:%S} UTC)"
    if found.verdict is None:
        answer = "in" if found.lake_member else "not in"
        console.print(f"{name} is lake-only: profile {found.profile_id} is {answer} it in the lake{since}")
        return
    table = Table("condition", "value", "holds")
    for condition, value, held in found.verdict.values:
        table.add_row(str(condition), "null" if value is None else str(value), "yes" if held else "no")
    console.print(table)
    answer = "IN" if found.verdict.member else "NOT IN"
    console.print(f"profile {found.profile_id} is {answer} {name} now{since}")
    if found.boundary is not None:
        console.print(f"a window can change this at {found.boundary:%Y-%m-%d %H:%M:%S} UTC")


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
