"""Merges and splits mirrored to the lake: after a wrong automatic merge is split, and a manual merge is
made and undone, recomputing every profile from the Delta events table still finds zero drift."""

from __future__ import annotations

from datetime import timedelta

import pytest

from c360.settings import Settings
from c360.storage import Location
from c360.world import generate_world
from c360.world_events import world_events
from ingest.events import build_event
from lakehouse.reconcile import RECONCILED, reconcile
from lakehouse.tables import Lakehouse
from operational.identity_ops import IdentityEditor
from operational.reads import ProfileReader
from operational.store import Store
from sync.runner import LakeSync
from sync.stream import BatchReport
from tests.lake.support import apply, step_until_idle

pytestmark = pytest.mark.integration


def test_reconcile_is_clean_after_merges_and_splits(
    lake_settings: Settings, lake: Location, store: Store
) -> None:
    world = generate_world(people=120, events_per_person=10, seed=71)
    events = world_events(world)
    apply(store, events, batch=200)
    reader, editor = ProfileReader(store), IdentityEditor(store)
    at = max(e.occurred_at for e in events)

    def order(n: int, *ids: tuple[str, str]):
        return build_event(
            event_id=f"o{n}", source="pos", type="order", occurred_at=at + timedelta(minutes=n),
            channel="pos",
            identifiers=[{"type": t, "value": v} for t, v in ids], amount="2.50",
        )  # fmt: skip

    # Two shoppers known only by a loyalty card and an email; a clerk's slip ties them together (an
    # automatic merge), activity follows on both sides, then the merge is split.
    apply(store, [order(1, ("loyalty_id", "L-1")), order(2, ("email", "zoe@x.com"))], batch=2)
    apply(store, [order(3, ("loyalty_id", "L-1"), ("email", "zoe@x.com"))], batch=1)
    apply(store, [order(4, ("loyalty_id", "L-1")), order(5, ("email", "zoe@x.com"))], batch=2)
    a, b = reader.lookup("loyalty_id", "L-1")["_id"], reader.lookup("email", "zoe@x.com")["_id"]
    assert a == b
    survivor = a
    loser = next(p for p in (reader.get(survivor)["merged_from"]))
    editor.split(survivor, loser, {"reason": "clerk slip", "actor": "test"})
    apply(store, [order(6, ("loyalty_id", "L-2")), order(7, ("email", "mia@x.com"))], batch=2)
    c, d = reader.lookup("loyalty_id", "L-2")["_id"], reader.lookup("email", "mia@x.com")["_id"]
    editor.merge(c, d, {"reason": "test", "actor": "test"})
    editor.split(c, d, {"reason": "undo", "actor": "test"})

    reports: list[BatchReport] = []
    sync = LakeSync(store, lake_settings.lake, reports.append)
    step_until_idle(sync.step, lambda: len(reports))
    report = reconcile(Lakehouse(lake).duckdb(), store.live_profiles(RECONCILED))
    live = store.profiles.count_documents({"merged_into": {"$exists": False}})
    assert (report.profiles_checked, dict(report.drift)) == (live, {}), report.examples
    kinds = Lakehouse(lake).duckdb().sql("SELECT kind, count(*) FROM identity_changes GROUP BY 1")
    counts = dict(kinds.fetchall())
    assert counts["split"] == 2 and counts["merge"] == store.identity_events.count_documents(
        {"kind": "merge"}
    )
