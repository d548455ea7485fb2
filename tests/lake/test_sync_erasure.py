"""Erasure reaches the lake: documents deleted in MongoDB (as the eraser deletes a person: the profile, its
merged-away redirects, their events and identity events, in one transaction) leave every Delta table,
once per table and batch, before the batch's commit; after a vacuum no Parquet file holds them. On local
disk and on an S3-protocol server, where every object under the lake is listed and read."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pymongo.errors import OperationFailure

from c360.settings import LakeSettings, Settings
from c360.storage import Location
from c360.world import generate_world
from c360.world_events import world_events
from lakehouse.tables import Lakehouse
from operational.erasure import Eraser
from operational.store import Store
from sync.delta_target import META_KEY, open_table
from sync.runner import LakeSync
from sync.stream import CHANGE_STREAM_HISTORY_LOST, BatchReport, CollectionSync
from sync.tables import ALL_TABLES
from sync.vacuum import vacuum_tables
from tests.lake.conftest import ON_BOTH
from tests.lake.support import (
    apply,
    assert_delta_holds_every_change_once,
    every_object,
    read,
    step_until_idle,
)

pytestmark = pytest.mark.integration

# Where each table names a profile, an event or an identity event.
PROFILE_COLUMNS = {
    "profile_changes": ["profile_id"],
    "profiles_current": ["profile_id"],
    "events": ["profile_id"],
    "identity_changes": ["survivor", "merged"],
}


@dataclass(frozen=True)
class Erased:
    profiles: set[str]
    events: set[str]
    identity_events: set[str]
    identifiers: set[str]  # their values: emails, phones, account ids

    def ids(self) -> set[str]:
        return self.profiles | self.events | self.identity_events


@ON_BOTH
def test_an_erased_person_leaves_no_row_and_after_a_vacuum_no_file(
    lake_settings: Settings, lake: Location, store: Store
) -> None:
    world = generate_world(people=80, events_per_person=8, seed=71)
    events = world_events(world)
    late = world.messages[-1].person  # written and erased between two commits
    early = [e for e, m in zip(events, world.messages, strict=True) if m.person != late]
    # Long batches: the late person's writes and deletes land in one batch of each stream.
    settings = lake_settings.lake.model_copy(update={"batch_max_seconds": 4.0})
    reports: list[BatchReport] = []
    apply(store, early, batch=100)
    sync = LakeSync(store, settings, reports.append)
    step_until_idle(sync.step, lambda: len(reports))

    person = _merged_profile(store)
    time.sleep(0.01)
    before_erasure = datetime.now(UTC)  # the lake as of now still holds the person
    erased = _erase(store, person)
    assert len(erased.profiles) > 1 and erased.events and erased.identity_events
    assert _named(lake, erased) == set(PROFILE_COLUMNS), "the person was not in every table to begin with"
    late_events = [e for e, m in zip(events, world.messages, strict=True) if m.person == late]
    apply(store, late_events, batch=100)
    late_ids = [e.event_id for e in late_events]
    late_profiles = set(store.events.distinct("profile_id", {"_id": {"$in": late_ids}}))
    assert late_profiles and not late_profiles & _column(lake, "profile_changes", "profile_id")
    erased_late = [_erase(store, pid) for pid in sorted(late_profiles)]
    time.sleep(1)  # the change feeds read all of it ahead: one batch per stream
    step_until_idle(sync.step, lambda: len(reports))
    sync.close()

    everyone = [erased, *erased_late]
    assert [_named(lake, e) for e in everyone] == [set()] * len(everyone)
    gone = set().union(*(e.events for e in everyone))
    kept = {e.event_id: e for e in events if e.event_id not in gone}
    lake_events = read(lake, "events", ["event_id", "type", "amount"]).to_pylist()
    assert sorted((r["event_id"], r["type"], r["amount"]) for r in lake_events) == sorted(
        (e.event_id, e.type, e.amount) for e in kept.values()
    )
    assert_delta_holds_every_change_once(store, lake)  # every other profile and merge, exactly once
    current = read(lake, "profiles_current", ["profile_id", "version"]).to_pylist()
    assert sorted((r["profile_id"], r["version"]) for r in current) == sorted(
        (d["_id"], d.get("version")) for d in store.profiles.find({}, {"version": 1})
    )
    # Queried as users do, by a profile id, over files MERGE and DELETE rewrote (see lakehouse/tables.py).
    con, stays = Lakehouse(lake).duckdb(), store.events.find_one({"_id": next(iter(kept))})["profile_id"]
    for view in ("profiles_current", "profile_changes", "events"):
        count = "SELECT count(*) FROM {} WHERE profile_id = '{}'"
        assert con.sql(count.format(view, stays)).fetchall()[0][0] > 0, view
        assert [con.sql(count.format(view, p)).fetchall()[0][0] for p in erased.profiles] == [0] * len(
            erased.profiles
        )
    # A re-export of an earlier date reads the lake as it was: the person must not come back with it.
    past = Lakehouse(lake, as_of=before_erasure, travel=True).duckdb()
    then = {row[0] for row in past.sql("SELECT profile_id FROM profiles_current").fetchall()}
    assert then == _column(lake, "profiles_current", "profile_id")  # everyone then but the erased
    gone_events = past.sql(
        "SELECT count(*) FROM events WHERE event_id IN (SELECT unnest(?))", params=[sorted(erased.events)]
    )
    assert gone_events.fetchall() == [(0,)]
    for table in ALL_TABLES:
        errors = read(lake, table.name, ["sync_error"]).column("sync_error")
        assert errors.null_count == len(errors), table.name
    # One DELETE per table and batch, however many documents (and erasures) the batch holds: the
    # person's erasure, the late person's writes and their erasures all came before the next step.
    for table, field in (
        ("profile_changes", "profiles"),
        ("identity_changes", "identity_events"),
        ("events", "events"),
    ):
        erasing = [r for r in reports if r.table == table and r.erased]
        assert sum(r.erased for r in erasing) == sum(len(getattr(e, field)) for e in everyone), table
        assert _deletes(lake, table) == len(erasing) == 1, table
    assert _deletes(lake, "profiles_current") == _deletes(lake, "profile_changes")
    # Rows of documents erased in the batch that wrote them were never written, not even to old files.
    objects = _object_texts(lake_settings)
    for late_erased in erased_late:
        assert not _files_naming(objects, late_erased.ids())

    assert _files_naming(objects, erased.ids()), "old files hold the person until vacuumed"
    # The log outlives the vacuum: its statistics keep only ids, times and counts, never what a person is.
    for table in ALL_TABLES:
        assert _stats_columns(objects, table.name) <= set(table.stats_columns), table.name
    assert not [v for e in everyone for v in e.identifiers if v in _log_text(objects)]
    before = {t.name: sorted(map(_row_key, read(lake, t.name).to_pylist())) for t in ALL_TABLES}
    removed = dict(vacuum_tables(lake, retention_hours=0))
    assert all(removed[t] for t in ("profile_changes", "profiles_current", "identity_changes", "events"))
    objects = _object_texts(lake_settings)
    assert not _files_naming(objects, erased.ids())
    # Every object under the lake, data, log, lease: none holds an identifier of anyone erased, and
    # outside the log none holds their ids either (the log keeps ids, pseudonyms: docs/LAKEHOUSE.md).
    named = [
        name
        for name, text in objects.items()
        for e in everyone
        if any(v in text for v in e.identifiers)
        or ("/_delta_log/" not in f"/{name}" and any(i in text for i in e.ids()))
    ]
    assert not named, named
    assert {t.name: sorted(map(_row_key, read(lake, t.name).to_pylist())) for t in ALL_TABLES} == before


class Stopped(Exception):
    """The sync dies here."""


def test_a_sync_stopped_between_the_delete_and_the_batch_commit_erases_again_on_restart(
    lake_settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, reports, sync = _synced(store, lake_settings, seed=72)
    lake = sync.lake
    changes = sync.shares[0].targets[0]
    assert changes.table.name == "profile_changes"
    erase = changes.erase

    def erase_then_die(keys: Any) -> None:
        erase(keys)
        raise Stopped

    monkeypatch.setattr(changes, "erase", erase_then_die)
    recorded = _batches(lake, "profile_changes")
    erased = _erase(store, _merged_profile(store))
    with pytest.raises(Stopped):
        step_until_idle(sync.step, lambda: len(reports))
    # Between the two commits: the DELETE is in, the batch is not; profiles_current still has the person.
    assert _batches(lake, "profile_changes") == recorded
    assert not erased.profiles & _column(lake, "profile_changes", "profile_id")
    assert erased.profiles & _column(lake, "profiles_current", "profile_id")
    sync.close()  # nothing of the failed batch is buffered any more: like a kill, it commits none of it

    restarted = LakeSync(store, settings, reports.append)
    step_until_idle(restarted.step, lambda: len(reports))
    restarted.close()
    assert _named(lake, erased) == set()
    assert_delta_holds_every_change_once(store, lake)
    assert _batches(lake, "profile_changes") == list(range(1, recorded[-1] + 2))


def _synced(
    store: Store, lake_settings: Settings, seed: int
) -> tuple[LakeSettings, list[BatchReport], LakeSync]:
    """60 generated people written to MongoDB and synced to the lake by a sync still open."""
    apply(store, world_events(generate_world(people=60, events_per_person=6, seed=seed)), batch=100)
    reports: list[BatchReport] = []
    sync = LakeSync(store, lake_settings.lake, reports.append)
    step_until_idle(sync.step, lambda: len(reports))
    return lake_settings.lake, reports, sync


def _merged_profile(store: Store) -> str:
    """A live profile that absorbed others: an erasure then spans redirects and identity events."""
    doc = store.profiles.find_one({"merged_from.0": {"$exists": True}, "merged_into": {"$exists": False}})
    assert doc is not None, "the world has no merged profile"
    return str(doc["_id"])


def _erase(store: Store, profile_id: str) -> Erased:
    """Erase the person with the eraser, noting first which of their documents and identifiers the lake
    may hold."""
    ids = [profile_id, *store.profiles.distinct("_id", {"merged_into": profile_id})]
    events = set(store.events.distinct("_id", {"profile_id": {"$in": ids}}))
    touching = {"$or": [{"survivor": {"$in": ids}}, {"merged": {"$in": ids}}, {"from": {"$in": ids}}]}
    identity_events = set(store.identity_events.distinct("_id", touching))
    values = {k.split(":", 1)[1] for k in store.identities.distinct("_id", {"profile_id": {"$in": ids}})}
    erasure = Eraser(store).erase(profile_id, requested_by="test", reason="lake")
    assert sorted(erasure.profiles) == sorted(ids)
    return Erased(set(ids), events, identity_events, values)


def _named(lake: Location, erased: Erased) -> set[str]:
    """The tables with a row of the erased documents (by key) or naming one of the erased profiles."""
    found = set()
    for table, columns in PROFILE_COLUMNS.items():
        if any(erased.profiles & _column(lake, table, c) for c in columns):
            found.add(table)
    if erased.events & _column(lake, "events", "event_id"):
        found.add("events")
    if erased.identity_events & _column(lake, "identity_changes", "change_id"):
        found.add("identity_changes")
    return found


def _column(lake: Location, table: str, column: str) -> set[Any]:
    return set(read(lake, table, [column]).column(column).to_pylist())


def _files_naming(objects: dict[str, str], ids: set[str]) -> list[str]:
    """Every Parquet data file under the tables (committed, removed or never committed) whose rows
    mention one of `ids` anywhere, read raw."""
    return [
        name
        for name, text in objects.items()
        if name.endswith(".parquet") and "/_delta_log/" not in f"/{name}" and any(i in text for i in ids)
    ]


def _object_texts(settings: Settings) -> dict[str, str]:
    """Every object under the lake as text: Parquet files (data, checkpoints) as their rows."""
    return {
        name: json.dumps(pq.read_table(pa.BufferReader(data)).to_pylist(), default=str)
        if name.endswith(".parquet")
        else data.decode(errors="replace")
        for name, data in every_object(settings).items()
    }


def _stats_columns(objects: dict[str, str], table: str) -> set[str]:
    """Every column any file's entry in the log keeps statistics of."""
    columns: set[str] = set()
    for name, text in objects.items():
        if not (name.startswith(f"{table}/_delta_log/") and name.endswith(".json")):
            continue
        for line in text.splitlines():
            stats = json.loads(line).get("add", {}).get("stats")
            if stats:
                parsed = json.loads(stats)
                columns |= set(parsed.get("minValues", {})) | set(parsed.get("maxValues", {}))
    return columns


def _log_text(objects: dict[str, str]) -> str:
    """Every table's log, commits and checkpoints, as text."""
    return "\n".join(text for name, text in objects.items() if "/_delta_log/" in name)


def _deletes(lake: Location, table: str) -> int:
    return sum(c.get("operation") == "DELETE" for c in open_table(lake.child(table)).history())


def _batches(lake: Location, table: str) -> list[int]:
    """The batch of every sync commit, oldest first: a batch recorded twice shows twice."""
    history = open_table(lake.child(table)).history()
    return sorted(json.loads(c[META_KEY])["batch"] for c in history if META_KEY in c)


def _row_key(row: dict[str, Any]) -> str:
    return json.dumps(row, default=str, sort_keys=True)


def test_erasures_made_while_the_stream_history_was_lost_still_reach_the_lake(
    lake_settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync stopped longer than the oplog reaches back starts new epochs and never sees the deletes
    made meanwhile; the erasure records name whose rows must go."""
    settings, reports, sync = _synced(store, lake_settings, seed=74)
    lake = sync.lake
    sync.close()
    erased = _erase(store, _merged_profile(store))  # while no sync runs

    lost: set[str] = set()
    open_feed = CollectionSync._open_feed

    def rolled_over(self: CollectionSync) -> Any:
        """The oplog rolled past where each stream stopped (MongoDB's error for it)."""
        if self.collection not in lost:
            lost.add(self.collection)
            raise OperationFailure("resume point no longer in the oplog", code=CHANGE_STREAM_HISTORY_LOST)
        return open_feed(self)

    monkeypatch.setattr(CollectionSync, "_open_feed", rolled_over)
    restarted = LakeSync(store, settings, reports.append)
    step_until_idle(restarted.step, lambda: len(reports))
    restarted.close()

    assert lost == {"profiles", "identity_events", "events"}
    assert {r.table for r in reports if r.epoch == 1} == {"profile_changes", "identity_changes", "events"}
    assert not erased.profiles & _column(lake, "profile_changes", "profile_id")
    assert not erased.profiles & _column(lake, "profiles_current", "profile_id")
    assert not erased.events & _column(lake, "events", "event_id")
    assert not [
        r
        for r in read(lake, "identity_changes", ["survivor", "merged"]).to_pylist()
        if {r["survivor"], r["merged"]} & erased.profiles
    ]
    kept = set(store.events.distinct("_id"))
    assert kept and kept <= _column(lake, "events", "event_id")  # everyone else stays
