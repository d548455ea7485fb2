"""The lake in a bucket of an S3-protocol server (moto, started by the suite): the sync, DuckDB, Polars,
`c360 sql`, exports and vacuum work there; a second `c360 sync run` on the same lake is refused; a store
that ignores conditional writes is refused unless the user opts in; a commit overtaken by another
writer's commit of the next log version is retried as the version after it, and one overtaken by a
second sync's commit of the same batch is refused, never written twice.

(The 20-SIGKILL test and the erasure-then-vacuum test run here too: test_sync_crash.py and
test_sync_erasure.py.)"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal

import polars as pl
import pyarrow as pa
import pytest
import yaml
from deltalake import CommitProperties, Transaction, write_deltalake
from typer.testing import CliRunner

from c360.bootstrap import export_day
from c360.cli import app
from c360.settings import Settings
from c360.storage import Location, location
from c360.world import generate_world
from c360.world_events import world_events
from lakehouse.tables import Lakehouse
from operational.store import Store
from sync.delta_target import Checkpoint, ConcurrentSyncError, DeltaTarget, open_table
from sync.lease import UnsafeStore, honours_conditional_create
from sync.runner import LakeSync
from sync.stream import BatchReport
from sync.tables import EVENTS
from tests.lake.support import apply, commits, read, step_until_idle, sync_env
from tests.s3 import Proxy, S3Server, objects

pytestmark = pytest.mark.integration

S3 = pytest.mark.parametrize("lake_settings", ["s3"], indirect=True)
SEGMENTS = {
    "version": 1,
    "segments": [{"name": "emailable", "where": "has_identifier(identifiers, 'email')"}],
}


@S3
def test_sync_queries_exports_and_vacuum_on_the_object_store(
    lake_settings: Settings, lake: Location, store: Store, s3_bucket: str
) -> None:
    world = generate_world(people=120, events_per_person=8, seed=81)
    apply(store, world_events(world), batch=200)
    reports: list[BatchReport] = []
    sync = LakeSync(store, lake_settings.lake, reports.append)
    step_until_idle(sync.step, lambda: len(reports))
    sync.close()

    sums: dict[str, Decimal] = {}
    for expected in world.expected_profiles():
        for kind, amount in expected.sums.items():
            sums[kind] = sums.get(kind, Decimal(0)) + amount
    con = Lakehouse(lake).duckdb()
    duck = dict(
        con.sql("SELECT type, sum(amount) FROM events WHERE amount IS NOT NULL GROUP BY 1").fetchall()
    )
    frames = Lakehouse(lake).polars()
    polars = dict(
        frames["events"].filter(pl.col("amount").is_not_null()).group_by("type").agg(pl.col("amount").sum())
        .collect().iter_rows()
    )  # fmt: skip
    assert duck == polars == sums
    # DuckDB pushes the filter into the files appends wrote (it pushes none into a string_view dataset).
    plan = con.sql("EXPLAIN SELECT count(*) FROM events WHERE amount IS NOT NULL").fetchall()[0][1]
    assert "Filters:" in plan, plan
    # A profile looked up by id in profiles_current, whose files a MERGE wrote (string_view columns).
    merged = store.profiles.find_one({"merged_from.0": {"$exists": True}})
    assert merged is not None
    by_id = "SELECT event_count, merged_from FROM profiles_current WHERE profile_id = ?"
    assert con.sql(by_id, params=[merged["_id"]]).fetchall() == [
        (merged["event_count"], merged["merged_from"])
    ]

    env = sync_env(lake_settings)
    shown = CliRunner().invoke(app, ["sql", "SELECT count(*) AS live FROM profiles"], env=env)
    assert shown.exit_code == 0, shown.output
    assert re.search(rf"│\s+{len(world.people)}\s+│", shown.output), shown.output

    lake_settings.lake.segments_file.write_text(yaml.safe_dump(SEGMENTS))
    first = export_day(lake_settings, date.today())
    exported = _exports(lake_settings, s3_bucket)
    emailable = {p.index for p in world.people if p.emails}
    assert first.manifest["segments"][0]["rows"] == len(emailable)
    again = export_day(lake_settings, date.today())
    assert again.manifest == first.manifest and _exports(lake_settings, s3_bucket) == exported
    digest = hashlib.sha256(exported[f"{date.today()}/emailable.csv"]).hexdigest()
    assert first.manifest["segments"][0]["files"]["csv"]["sha256"] == digest

    vacuumed = CliRunner().invoke(app, ["sync", "vacuum", "--retention-hours", "1"], env=env)
    assert vacuumed.exit_code == 0, vacuumed.output
    assert "not created yet" not in vacuumed.output
    assert read(lake, "events", ["event_id"]).num_rows == len(world.messages)


def _exports(settings: Settings, bucket: str) -> dict[str, bytes]:
    """The export objects in the bucket, read through boto3."""
    prefix = str(settings.lake.exports_path).removeprefix(f"s3://{bucket}/") + "/"
    return {k.removeprefix(prefix): v for k, v in objects(settings.lake.storage, bucket, prefix).items()}


@S3
def test_a_second_sync_on_the_same_lake_is_refused(
    lake_settings: Settings, lake: Location, store: Store
) -> None:
    apply(store, world_events(generate_world(people=40, events_per_person=4, seed=82)), batch=100)
    env = sync_env(lake_settings, batch_max_seconds="0.2")
    command = [sys.executable, "-m", "c360.cli", "sync", "run", "--quiet"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while commits(lake) < 7:  # each table created, each stream's snapshot started: it runs
            assert first.poll() is None, first.stderr.read().decode()[-2000:] if first.stderr else ""
            assert time.monotonic() < deadline, "the first sync made no commit in 120 s"
            time.sleep(0.1)
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1, second.stderr
        assert "is held by the sync on" in second.stdout and f"(pid {first.pid})" in second.stdout
        assert "run one sync per lake" in second.stdout
        assert first.poll() is None, "the first sync stopped"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
        if first.stderr:
            first.stderr.close()


@S3
def test_a_store_that_ignores_conditional_writes_is_refused_unless_allowed(
    lake_settings: Settings, lake: Location, store: Store, s3_server: S3Server
) -> None:
    assert honours_conditional_create(location(lake_settings.lake.path, lake_settings.lake.storage))
    apply(store, world_events(generate_world(people=20, events_per_person=3, seed=83)), batch=100)
    with Proxy(s3_server.endpoint, strip_if_none_match=True).running() as proxy:
        settings = lake_settings.lake.model_copy(update={"storage": s3_server.storage(proxy.endpoint)})
        assert not honours_conditional_create(location(settings.path, settings.storage))
        with pytest.raises(UnsafeStore, match="ignores conditional writes"):
            LakeSync(store, settings)
        assert not any(m == "PUT" and "_delta_log" in p for m, p, _ in proxy.statuses), "it wrote first"

        allowed = settings.model_copy(update={"allow_store_without_conditional_put": True})
        reports: list[BatchReport] = []
        sync = LakeSync(store, allowed, reports.append)  # one writer, on the user's word
        step_until_idle(sync.step, lambda: len(reports))
        sync.close()
    assert read(lake, "events", ["event_id"]).num_rows == store.events.count_documents({}) > 0


@S3
def test_a_commit_overtaken_by_another_writer_is_retried_and_by_a_second_sync_refused(
    lake_settings: Settings, lake: Location, s3_server: S3Server
) -> None:
    """Through a proxy that, when the sync PUTs log version N, first has another writer commit N itself:
    the sync's conditional PUT gets 412 and delta-rs must sort it out."""
    rows = pa.Table.from_pylist([{"event_id": f"sync-{i}", "sync_batch": 2} for i in range(3)], EVENTS.schema)
    theirs = pa.Table.from_pylist([{"event_id": "backfill-1"}], EVENTS.schema)
    with Proxy(s3_server.endpoint).running() as proxy:
        proxied = location(lake_settings.lake.path, s3_server.storage(proxy.endpoint))
        target = DeltaTarget(proxied, EVENTS, "c360-sync")  # version 0
        target.append(EVENTS.schema.empty_table(), Checkpoint(batch=1))  # version 1
        events = lake.child("events")  # the other writer goes to the server directly

        def another_writer() -> None:  # a job of its own appending to the table: version 2
            write_deltalake(open_table(events), theirs, mode="append")

        proxy.before_put.append((re.compile(r"events/_delta_log/0+2\.json"), another_writer))
        target.append(rows, Checkpoint(batch=2))
        puts = [(p.rsplit("/", 1)[-1], s) for m, p, s in proxy.statuses if m == "PUT" and "_delta_log" in p]
        assert puts[-2:] == [("00000000000000000002.json", 412), ("00000000000000000003.json", 200)]
        table = open_table(events)
        assert (table.version(), table.transaction_version("c360-sync")) == (3, 2)
        ids = sorted(read(lake, "events", ["event_id"]).column("event_id").to_pylist())
        assert ids == ["backfill-1", "sync-0", "sync-1", "sync-2"]
        assert json.loads(table.history(1)[0]["c360.sync"])["batch"] == 2

        def second_sync() -> None:  # the same batch, by a second sync sharing the app id: version 4
            props = CommitProperties(app_transactions=[Transaction("c360-sync", 3)])
            write_deltalake(open_table(events), rows, mode="append", commit_properties=props)

        proxy.before_put.append((re.compile(r"events/_delta_log/0+4\.json"), second_sync))
        with pytest.raises(ConcurrentSyncError, match="another writer committed first"):
            target.append(rows, Checkpoint(batch=3))
    table = open_table(events)
    assert (table.version(), table.transaction_version("c360-sync")) == (4, 3)
    ids = read(lake, "events", ["event_id"]).column("event_id").to_pylist()
    assert sorted(ids).count("sync-0") == 2, "batch 3 is in the table once: the second sync's"
