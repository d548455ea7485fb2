"""`c360 sync vacuum`: files older than the retention that no current version reads go (orphans of a killed
writer too), younger ones stay; under an hour is refused; the report names every table."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from c360.cli import app
from sync.delta_target import Checkpoint, DeltaTarget
from sync.tables import EVENTS, PROFILE_CHANGES
from tests.lake.support import read

HOUR_S = 3600


def test_vacuum_keeps_the_retention_refuses_under_an_hour_and_reports_each_table(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    for table in (PROFILE_CHANGES, EVENTS):
        target = DeltaTarget(lake, table, "app")
        target.append(pa.Table.from_pylist([{table.key: "k1"}], table.schema), Checkpoint(batch=1))
    # Left by writers killed before their commit: 3 h and 90 min ago.
    old, young = (
        _orphan(lake / "profile_changes" / f"{name}.parquet", age)
        for name, age in (("old", 3), ("young", 1.5))
    )
    env = {"C360_LAKE__PATH": str(lake), "C360_LAKE__HISTORY_RETENTION_HOURS": "2"}
    runner = CliRunner()

    refused = runner.invoke(app, ["sync", "vacuum", "--retention-hours", "0"], env=env)
    assert refused.exit_code == 2
    assert "under 1 hour" in refused.output and "not committed yet" in refused.output
    assert old.exists() and young.exists()

    done = runner.invoke(app, ["sync", "vacuum"], env=env)  # lake.history_retention_hours: 2
    assert done.exit_code == 0, done.output
    assert "keeping 2 hours" in done.output
    assert _reported(done.output) == {
        "profile_changes": "1",
        "profiles_current": "not created yet",
        "identity_changes": "not created yet",
        "events": "0",
    }
    assert not old.exists() and young.exists()

    done = runner.invoke(app, ["sync", "vacuum", "--retention-hours", "1"], env=env)
    assert done.exit_code == 0, done.output
    assert _reported(done.output)["profile_changes"] == "1"
    assert not young.exists()
    assert read(lake, "profile_changes", ["profile_id"]).to_pylist() == [{"profile_id": "k1"}]
    assert read(lake, "events", ["event_id"]).to_pylist() == [{"event_id": "k1"}]


def _orphan(path: Path, age_hours: float) -> Path:
    pq.write_table(pa.table({"profile_id": ["k2"]}), path)
    then = time.time() - age_hours * HOUR_S
    os.utime(path, (then, then))
    return path


def _reported(output: str) -> dict[str, str]:
    """The report's rows: table name -> files removed."""
    rows = re.findall(r"│ (\w+)\s+│\s+([\w ]+?)\s+│", output)
    return dict(rows)
