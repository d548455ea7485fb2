"""`c360 sync vacuum`: files older than the retention that no current version reads go (orphans of a killed
writer too), younger ones stay; under an hour is refused; the report names every table; a vacuum beside a
running sync disturbs none of its commits."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from c360.cli import app
from c360.settings import Settings
from c360.storage import Location
from c360.world import generate_world
from c360.world_events import world_events
from operational.store import Store
from sync.delta_target import Checkpoint, DeltaTarget
from sync.runner import LakeSync
from sync.stream import BatchReport
from sync.tables import ALL_TABLES, EVENTS, PROFILE_CHANGES
from sync.vacuum import vacuum_tables
from tests.lake.support import apply, assert_delta_holds_every_change_once, read, step_until_idle

HOUR_S = 3600


def test_vacuum_keeps_the_retention_refuses_under_an_hour_and_reports_each_table(tmp_path: Path) -> None:
    lake = Location(str(tmp_path / "lake"))
    for table in (PROFILE_CHANGES, EVENTS):
        target = DeltaTarget(lake, table, "app")
        target.append(pa.Table.from_pylist([{table.key: "k1"}], table.schema), Checkpoint(batch=1))
    # Left by writers killed before their commit: 3 h and 90 min ago.
    old, young = (
        _orphan(lake.path / "profile_changes" / f"{name}.parquet", age)
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


@pytest.mark.integration
def test_vacuuming_beside_a_running_sync_loses_and_doubles_nothing(
    lake_settings: Settings, lake: Location, store: Store
) -> None:
    """Each vacuum finds an old orphan in every table and deletes files between the sync's commits (with
    delta-rs's own VACUUM commits this failed, sync/vacuum.py); the sync must neither fail nor record a
    change twice."""
    events = world_events(generate_world(people=150, events_per_person=8, seed=73))
    stop = threading.Event()
    failures: list[BaseException] = []
    vacuumed: list[dict[str, int | None]] = []

    def vacuum_meanwhile() -> None:
        try:
            while not stop.is_set():
                for table in ALL_TABLES:
                    if (lake.path / table.name / "_delta_log").exists():
                        _orphan(lake.path / table.name / f"orphan-{len(vacuumed)}.parquet", age_hours=2)
                vacuumed.append(dict(vacuum_tables(lake, retention_hours=1)))
        except BaseException as exc:
            failures.append(exc)

    reports: list[BatchReport] = []
    sync = LakeSync(store, lake_settings.lake, reports.append)
    vacuums = threading.Thread(target=vacuum_meanwhile)
    vacuums.start()
    try:
        for start in range(0, len(events), 100):
            apply(store, events[start : start + 100], batch=100)
            sync.step()
        step_until_idle(sync.step, lambda: len(reports))
        sync.close()
    finally:
        stop.set()
        vacuums.join()
    assert not failures, failures
    assert len(vacuumed) > 3 and all(v["profile_changes"] for v in vacuumed[1:])
    assert_delta_holds_every_change_once(store, lake)
