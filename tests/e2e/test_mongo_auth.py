"""Against a mongod started with --auth and a keyFile (`c360 dev up` with local.mongo_auth), every component
works as its own least-privilege user, and each user is refused what its role leaves out; the API's
user above all cannot write events.

`c360 setup` (as the administrator) creates the topics, collections, indexes and the users from password
files; ingest, API, sync and jobs then connect with mongo.username + mongo.password_file. Expected
profiles come from the world generator's ground truth."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from c360.bootstrap import api_app, export_day, ingest_loop, lake_sync, reconcile_lake, setup
from c360.demo import examples
from c360.publish import publish
from c360.servers import LocalServers, mongo_uri, settings_for_local
from c360.settings import LocalServerSettings, MongoSettings, Settings, load_settings
from c360.world import generate_world
from operational.roles import COMPONENTS, Component, user_name
from operational.store import Store
from operational.trim import trim_buckets
from tests.e2e.support import assert_profiles_match_ground_truth, run_until
from tests.lake.support import read
from tests.repository import repository_file

pytestmark = pytest.mark.e2e
DATABASE = "c360_secured"
UNAUTHORIZED = 13
API_KEY = "steward-key-0123456789"


@pytest.fixture
def secured(local_server_settings: LocalServerSettings, tmp_path: Path) -> Iterator[Settings]:
    """A private mongod with --auth and a keyFile (and a broker); settings as its administrator."""
    local = local_server_settings.model_copy(update={"mongo_auth": True})
    servers = LocalServers(local, database=DATABASE)
    servers.up()
    try:
        yield settings_for_local(
            load_settings(
                local=local.model_dump(),
                mongo={"database": DATABASE},
                kafka={"session_timeout_ms": 2_000, "heartbeat_interval_ms": 300, "group_id": "secured"},
                lake={"path": str(tmp_path / "lake")},
                api={"keys": [{"name": "steward", "key": API_KEY, "role": "admin"}]},
            )
        )
    finally:
        servers.down()


def _as(admin: Settings, component: Component, password_file: Path) -> Settings:
    """The same settings, connecting as the component's user with its password from a file."""
    plain = mongo_uri(admin.local.model_copy(update={"mongo_auth": False}))
    mongo = MongoSettings(
        uri=plain, database=DATABASE, username=user_name(component), password_file=password_file
    )
    assert user_name(component) in mongo.uri and "@" in mongo.uri
    return admin.model_copy(update={"mongo": mongo})


def _refused(action: Any) -> bool:
    try:
        action()
    except OperationFailure as exc:
        return exc.code == UNAUTHORIZED
    return False


def test_each_component_works_as_its_own_least_privilege_user(secured: Settings, tmp_path: Path) -> None:
    admin = secured
    with MongoClient(mongo_uri(admin.local.model_copy(update={"mongo_auth": False}))) as anonymous:
        assert _refused(lambda: anonymous[DATABASE].list_collection_names())  # --auth is on

    password_files = {}
    for component in COMPONENTS:
        password_files[component] = tmp_path / f"mongo_{component}_password"
        password_files[component].write_text(secrets.token_urlsafe(16) + "\n")
    report = setup(admin, partitions=2, passwords=password_files)
    assert report.users == [user_name(c) for c in COMPONENTS]
    users = {c: _as(admin, c, password_files[c]) for c in COMPONENTS}

    # ingest: the whole world through Kafka, as c360-ingest
    world = generate_world(people=60, events_per_person=8, seed=17)
    total = publish(world.messages, admin.kafka, progress=False)
    with ingest_loop(users["ingest"]) as loop:
        run_until(loop, lambda: loop.totals.records >= total)
    assert (loop.totals.applied, loop.totals.dead_letters) == (total, 0)
    checked = Store.open(admin.mongo.uri, DATABASE)
    try:
        assert_profiles_match_ground_truth(world, checked)
    finally:
        checked.close()

    # api: reads as c360-api; its user may not write events, and a write endpoint says so with a 403
    example = examples(world, count=1)[0]
    with api_app(users["api"]) as app, TestClient(app) as client:
        headers = {"X-API-Key": API_KEY}
        found = client.get(
            "/profiles/lookup", params={"type": example.type, "value": example.value}, headers=headers
        )
        assert found.status_code == 200, found.text
        assert found.json()["event_count"] == example.expected_events
        erase = client.delete(f"/profiles/{found.json()['id']}", params={"reason": "t"}, headers=headers)
        assert erase.status_code == 403 and "c360_api role only reads" in erase.json()["detail"]
    api = Store.open(users["api"].mongo.uri, DATABASE)
    try:
        assert _refused(lambda: api.events.insert_one({"_id": "forged", "type": "purchase"}))
        assert _refused(lambda: api.events.delete_many({}))
        assert _refused(lambda: api.profiles.update_one({}, {"$set": {"x": 1}}))
        assert api.events.count_documents({}) == total
    finally:
        api.close()

    # sync: every event into the lake as c360-sync, which may watch but not write
    with lake_sync(users["sync"]) as sync:
        deadline = time.monotonic() + 120
        while _lake_events(admin) < total:
            assert time.monotonic() < deadline, f"the sync reached {_lake_events(admin)} of {total} events"
            sync.step()
        sync.close()
    sync_store = Store.open(users["sync"].mongo.uri, DATABASE)
    try:
        assert _refused(lambda: sync_store.profiles.update_one({}, {"$set": {"x": 1}}))
        assert _refused(lambda: sync_store.events.insert_one({"_id": "forged"}))
    finally:
        sync_store.close()

    # jobs: the nightly export with compose/'s example segments file, reconcile (lake against MongoDB)
    # and trim, as c360-jobs
    jobs_settings = users["jobs"].model_copy(deep=True)
    jobs_settings.lake.segments_file = repository_file("compose/segments.yaml")
    jobs_settings.lake.exports_path = tmp_path / "exports"
    exported = export_day(jobs_settings, world.now.date() - timedelta(days=1))
    assert {e["segment"] for e in exported.manifest["segments"]} == {"big_spenders", "newsletter", "lapsed"}
    reconciled = reconcile_lake(users["jobs"])
    assert reconciled.clean and reconciled.profiles_checked > 0, reconciled.drift
    jobs = Store.open(users["jobs"].mongo.uri, DATABASE)
    try:
        trim_buckets(jobs, world.now)
        # no component may change the schema: setup (an administrator) does
        for component in COMPONENTS:
            store = Store.open(users[component].mongo.uri, DATABASE)
            try:
                assert _refused(lambda s=store: s.events.create_index("type")), component
                assert _refused(lambda s=store: s.db.drop_collection("events")), component
            finally:
                store.close()
    finally:
        jobs.close()


def _lake_events(settings: Settings) -> int:
    if not (Path(settings.lake.path) / "events" / "_delta_log").exists():  # a local lake here
        return 0
    return read(settings.lake.path, "events", ["event_id"]).num_rows
