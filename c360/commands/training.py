"""`c360 training-set`: point-in-time features for labelled rows, as Parquet (lakehouse/training.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import typer
from rich.console import Console

from c360.bootstrap import lake_location
from c360.settings import load_settings
from lakehouse.tables import Lakehouse
from lakehouse.training import LabelError, training_set

console = Console(stderr=True)


def training_set_command(
    labels: Annotated[Path, typer.Argument(help="Labels: a Parquet or CSV file, one row per example.")],
    time_column: Annotated[str, typer.Option("--time-column", help="The label time of each row (UTC).")],
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write.")],
    id_column: Annotated[str, typer.Option("--id-column", help="The profile id column.")] = "profile_id",
) -> None:
    """Each labelled row with the profile's features as they were at its time, never later.

    Features come from profile_changes with an as-of join: the profile's last version at or before the
    label time, or its survivor's when it had been merged by then (a later merge never leaks in).

        c360 training-set churn_labels.parquet --time-column labelled_at --out training.parquet
    """
    table = pacsv.read_csv(labels) if labels.suffix.lower() == ".csv" else pq.read_table(labels)
    try:
        result = training_set(
            Lakehouse(lake_location(load_settings())).duckdb(), table, time_column, id_column
        )
    except LabelError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    pq.write_table(result, out)
    found = result.num_rows - result.column("feature_profile_id").null_count
    console.print(
        f"{result.num_rows:,} labelled rows written to {out} ({found:,} with a profile at their time)"
    )
