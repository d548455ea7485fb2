"""New epochs on a genuine MongoDB: a collection replaced under the sync (a restore renaming a copy over
it) ends its change stream with an invalidate, and a sync stopped before its first chunk resumes the
snapshot it started rather than taking a later one. A snapshot outliving MongoDB's snapshot history
stays in its epoch."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from pymongo import MongoClient

from c360.settings import Settings
from c360.storage import Location
from c360.world import generate_world
from c360.world_events import world_events
from operational.store import Store
from sync.delta_target import DeltaTarget
from sync.runner import LakeSync
from sync.stream import BatchReport
from sync.tables import PROFILE_CHANGES
from tests.lake.support import apply, assert_delta_holds_every_change_once, read, step_until_idle

pytestmark = pytest.mark.integration


def test_a_replaced_collection_starts_a_new_epoch_holding_every_document_once(
    lake_settings: Settings, lake: Location, store: Store
) -> None:
    events = world_events(generate_world(people=150, events_per_person=8, seed=63))
    third = len(events) // 3
    reports: list[BatchReport] = []
    sync = LakeSync(store, lake_settings.lake, reports.append)
    apply(store, events[:third], batch=100)
    step_until_idle(sync.step, lambda: len(reports))

    # A restore: a copy renamed over the watched collection (MongoDB invalidates its change streams).
    store.profiles.aggregate([{"$out": "profiles_restored"}])
    store.db["profiles_restored"].rename("profiles", dropTarget=True)
    store.db.command("collMod", "profiles", changeStreamPreAndPostImages={"enabled": True})
    store.ensure_indexes()
    apply(store, events[third : 2 * third], batch=100)
    step_until_idle(sync.step, lambda: len(reports))  # the invalidate, then the new epoch's snapshot
    snapshotted = store.profiles.distinct("_id")
    apply(store, events[2 * third :], batch=100)  # streamed in the new epoch
    step_until_idle(sync.step, lambda: len(reports))
    sync.close()

    assert {(r.table, r.epoch) for r in reports if r.table == "profile_changes"} == {
        ("profile_changes", 0),
        ("profile_changes", 1),
    }
    assert_delta_holds_every_change_once(store, lake, epoch=1)
    snapshot = [
        r["profile_id"]
        for r in read(lake, "profile_changes", ["profile_id", "operation", "sync_epoch"]).to_pylist()
        if (r["operation"], r["sync_epoch"]) == ("snapshot", 1)
    ]
    assert sorted(snapshot) == sorted(snapshotted)  # each document once
    current = read(lake, "profiles_current", ["profile_id", "version", "sync_epoch"]).to_pylist()
    want = {d["_id"]: d.get("version") for d in store.profiles.find({}, {"version": 1})}
    assert sorted((r["profile_id"], r["version"]) for r in current) == sorted(want.items())
    assert {r["sync_epoch"] for r in current} == {1}


def test_a_sync_stopped_before_its_first_chunk_resumes_the_snapshot_it_started(
    lake_settings: Settings, lake: Location, store: Store
) -> None:
    events = world_events(generate_world(people=150, events_per_person=8, seed=64))
    half = len(events) // 2
    apply(store, events[:half], batch=100)
    LakeSync(store, lake_settings.lake).close()  # commits its epoch's start, then stops before any chunk
    at_start = {d["_id"]: d.get("version") for d in store.profiles.find({}, {"version": 1})}
    apply(store, events[half:], batch=100)

    reports: list[BatchReport] = []
    sync = LakeSync(store, lake_settings.lake, reports.append)
    step_until_idle(sync.step, lambda: len(reports))
    sync.close()

    assert_delta_holds_every_change_once(store, lake)
    rows = read(lake, "profile_changes", ["profile_id", "version", "operation"]).to_pylist()
    snapshot = {r["profile_id"]: r["version"] for r in rows if r["operation"] == "snapshot"}
    assert snapshot == at_start  # as MongoDB was when the first start began, not at the restart


def test_a_snapshot_outliving_mongodbs_history_goes_on_in_its_epoch_keeping_every_change_once(
    lake_settings: Settings, lake: Location, store: Store
) -> None:
    """MongoDB keeps a snapshot's time for minSnapshotHistoryWindowInSeconds (5 minutes by default; 1 s
    here): a snapshot outliving it (a large collection, a crashed sync restarted later) reads the rest at
    a later time, and the profiles it had not read yet keep every change from their snapshot row on."""
    events = world_events(generate_world(people=150, events_per_person=8, seed=66))
    half = len(events) // 2
    apply(store, events[:half], batch=100)
    chunked = lake_settings.lake.model_copy(update={"batch_size": 40})  # about 4 chunks of profiles
    reports: list[BatchReport] = []
    with _snapshot_history(store.client, seconds=1):
        sync = LakeSync(store, chunked, reports.append)
        sync.step()  # the first chunk of each collection, at the epoch's start
        apply(store, events[half:], batch=100, pause_s=0.5)  # changes to profiles read and not read yet
        step_until_idle(sync.step, lambda: len(reports))
        sync.close()

    moves = DeltaTarget(lake, PROFILE_CHANGES, chunked.app_id).checkpoint().snapshot_moves
    assert moves, "the snapshot never outlived MongoDB's history: the test proves nothing"
    assert {r.epoch for r in reports} == {0}
    assert_delta_holds_every_change_once(store, lake)  # from epoch 0: every version once


@contextmanager
def _snapshot_history(client: MongoClient, seconds: int) -> Iterator[None]:
    """The session's MongoDB keeping `seconds` of snapshot history meanwhile (a server-wide parameter)."""
    admin = client.admin
    was = admin.command("getParameter", 1, minSnapshotHistoryWindowInSeconds=1)
    admin.command("setParameter", 1, minSnapshotHistoryWindowInSeconds=seconds)
    try:
        time.sleep(seconds * 2)  # the oldest timestamp moves up to the window
        yield
    finally:
        admin.command(
            "setParameter", 1, minSnapshotHistoryWindowInSeconds=was["minSnapshotHistoryWindowInSeconds"]
        )
