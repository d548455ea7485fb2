"""One segment definition, two engines: the real-time evaluation of each rule on every stored profile
and its SQL over the synced lake give the same members, at the generated world's clock and 40 days
later (when every 30-day window has emptied without a new event). A window count is also checked
against the generator's own records."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from activation.evaluate import verdict
from activation.rules import Rule
from c360.bootstrap import explain_segment
from c360.settings import Settings
from c360.storage import Location
from c360.world import World, generate_world
from c360.world_events import world_events
from c360.world_truth import expected_view
from lakehouse.segments import Segment, members_sql
from lakehouse.tables import Lakehouse
from operational.store import Store
from sync.runner import LakeSync
from tests.lake.support import apply, step_until_idle

pytestmark = pytest.mark.integration

RULES = {
    "active_banking": "count(transaction, 30d) >= 3",
    "quiet_week": {"all": ["lifetime_count(transaction) >= 1", "count(transaction, 7d) == 0"]},
    "big_quarter": "volume(90d) > 150.25",
    "dormant_login": {"not": "days_since(login) <= 14"},
    "recent_login": "days_since(login) < 30",
    "shoppers": {"all": ["lifetime_count(order) >= 1", "lifetime_amount(order) > 100"]},
    "reachable": {"any": ["has_identifier(email) == true", "has_identifier(phone) == true"]},
    "marketable": {"all": ["consent(marketing) == true", "count(page_view, 30d) >= 1"]},
    "withheld": "consent(marketing) != true",
    "browsing": "count(page_view, 60d) >= 2",
}


def test_real_time_and_lake_agree_on_every_profile(
    lake_settings: Settings, lake: Location, store: Store
) -> None:
    world = generate_world(people=300, events_per_person=14, seed=118, holdings=True)
    apply(store, world_events(world), batch=300)
    commits: list[object] = []
    sync = LakeSync(store, lake_settings.lake, commits.append)
    step_until_idle(sync.step, lambda: len(commits))
    sync.close()
    segments = [Segment(name=name, rule=TypeAdapter(Rule).validate_python(r)) for name, r in RULES.items()]
    live = list(store.profiles.find({"merged_into": {"$exists": False}}))
    assert len(live) == len(world.people)

    by_clock = {}
    for clock in (world.now, world.now + timedelta(days=40)):
        con = Lakehouse(lake, as_of=clock).duckdb()
        for segment in segments:
            assert segment.rule is not None
            lake_members = {row[0] for row in con.sql(members_sql(segment)).fetchall()}
            realtime = {doc["_id"] for doc in live if verdict(segment.rule, doc, clock).member}
            assert realtime == lake_members, (segment.name, clock, len(realtime ^ lake_members))
            by_clock[segment.name, clock] = realtime
    # Not vacuous: every segment has members and non-members at the world's clock, and the windows moved.
    for segment in segments:
        assert 0 < len(by_clock[segment.name, world.now]) < len(live), segment.name
    later = world.now + timedelta(days=40)
    assert by_clock["active_banking", later] == set()
    assert by_clock["dormant_login", later] >= by_clock["dormant_login", world.now]
    assert by_clock["recent_login", later] < by_clock["recent_login", world.now]

    # Independently of both engines, from the generator's own records (c360/world_truth.py).
    tx90 = Segment(name="tx90", rule=TypeAdapter(Rule).validate_python("count(transaction, 90d) >= 3"))
    assert tx90.rule is not None
    person_of = {doc["_id"]: _person(world, doc) for doc in live}
    want = {
        pid for pid, person in person_of.items()
        if expected_view(world, world.people[person], world.now)["transactions"]["tx_count_90d"] >= 3
    }  # fmt: skip
    got = {doc["_id"] for doc in live if verdict(tx90.rule, doc, world.now).member}
    assert got == want and 0 < len(want) < len(live)

    # `c360 segments explain` on a lake-only segment asks the lake.
    lake_only = {"name": "txn3", "where": "stat_count(stats, 'transaction') >= 3"}
    lake_settings.lake.segments_file.write_text(yaml.safe_dump({"version": 1, "segments": [lake_only]}))
    selected = {row[0] for row in Lakehouse(lake).duckdb().sql(members_sql(Segment(**lake_only))).fetchall()}
    inside, outside = sorted(selected)[0], sorted(set(person_of) - selected)[0]
    assert explain_segment(lake_settings, "txn3", inside).lake_member is True
    assert explain_segment(lake_settings, "txn3", outside).lake_member is False
    assert explain_segment(lake_settings, "txn3", inside).verdict is None


def _person(world: World, doc: dict[str, Any]) -> int:
    owners = {world.owner_of(i["type"], i["value"]) for i in doc["identifiers"].values()} - {None}
    assert len(owners) == 1, owners
    return owners.pop()  # type: ignore[return-value]
