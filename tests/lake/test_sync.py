"""The change-stream sync on a genuine MongoDB: every change lands in Delta exactly once, typed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from c360.settings import Settings
from c360.storage import Location
from c360.world import TOPIC_HOLDINGS, generate_world
from c360.world_events import world_events
from lakehouse.reconcile import RECONCILED, reconcile
from lakehouse.tables import Lakehouse
from operational.store import Store
from sync.runner import LakeSync
from sync.stream import BatchReport
from tests.lake.support import (
    apply,
    assert_delta_holds_every_change_once,
    read,
    step_until_idle,
)

pytestmark = pytest.mark.integration


def test_sync_mirrors_a_world_exactly_with_exact_money(
    lake_settings: Settings, lake: Location, store: Store
) -> None:
    world = generate_world(people=300, events_per_person=12, seed=61, holdings=True)
    row_changes = sum(m.topic == TOPIC_HOLDINGS for m in world.messages)  # CDC state, not activity
    assert row_changes > 0
    events = world_events(world)
    half = len(events) // 2
    apply(store, events[:half], batch=200)  # before the sync's first start: copied by its snapshot
    reports: list[BatchReport] = []
    sync = LakeSync(store, lake_settings.lake, reports.append)
    apply(store, events[half:], batch=200)  # while it streams
    step_until_idle(sync.step, lambda: len(reports))
    sync.close()

    assert_delta_holds_every_change_once(store, lake)
    rows = read(lake, "events", ["type", "amount", "occurred_at", "change"]).to_pylist()
    assert len(rows) == len(world.messages)
    assert sum(row["change"] is not None for row in rows) == row_changes
    want: dict[str, Decimal] = {}
    for expected in world.expected_profiles():
        for kind, amount in expected.sums.items():
            want[kind] = want.get(kind, Decimal(0)) + amount
    got: dict[str, Decimal] = {}
    for row in rows:
        if row["amount"] is not None:
            got[row["type"]] = got.get(row["type"], Decimal(0)) + row["amount"]
        assert row["occurred_at"].utcoffset() is not None
    assert got == want
    current = read(lake, "profiles_current", ["profile_id", "merged_into", "event_count"])
    live = [r for r in current.to_pylist() if r["merged_into"] is None]
    assert len(live) == len(world.people)
    assert sum(r["event_count"] for r in live) == len(world.messages) - row_changes
    assert {r.table for r in reports} == {"profile_changes", "identity_changes", "events"}

    report = reconcile(Lakehouse(lake).duckdb(), store.live_profiles(RECONCILED))
    assert (report.profiles_checked, dict(report.drift)) == (len(world.people), {}), report.examples

    # Reconcile sees drift: one profile's count changed in MongoDB behind the lake's back.
    store.profiles.update_one({"_id": live[0]["profile_id"]}, {"$inc": {"event_count": 1}})
    report = reconcile(Lakehouse(lake).duckdb(), store.live_profiles(RECONCILED))
    assert dict(report.drift) == {"event_count": 1}
