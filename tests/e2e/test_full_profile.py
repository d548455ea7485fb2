"""The full profile on genuine servers: every field of every generated person's profile, read as of the
world's clock and again 40 days later, against the generator's own facts (c360/world_truth.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from c360.bootstrap import ingest_loop
from c360.world import generate_world
from c360.world_truth import expected_view
from operational.reads import ProfileReader
from profiles.offers import load_offer_rules
from profiles.view import profile_view
from tests.e2e.support import Pipeline, run_until, served

pytestmark = pytest.mark.e2e


def test_every_profile_field_matches_ground_truth_and_windows_expire(pipeline: Pipeline) -> None:
    world = generate_world(people=400, events_per_person=25, seed=21, holdings=True)
    total = pipeline.publish(world.messages)
    with ingest_loop(pipeline.settings) as loop:
        run_until(loop, lambda: loop.totals.records >= total)
    assert loop.totals.dead_letters == 0
    reader, rules = ProfileReader(pipeline.store), load_offer_rules()
    later = world.now + timedelta(days=40)
    mismatches: list[str] = []
    changed = 0
    for person in world.people:
        if person.web_only:
            continue
        doc = reader.lookup("customer_id", person.customer_id)
        assert doc is not None, f"person {person.index} has no profile"
        for now in (world.now, later):
            got, want = served(profile_view(doc, now, rules)), expected_view(world, person, now)
            mismatches += [
                f"person {person.index} at {now:%Y-%m-%d} {key}: got {got[key]!r}, want {want[key]!r}"
                for key in want
                if got[key] != want[key]
            ]
        now_view, later_view = (profile_view(doc, t, rules)["transactions"] for t in (world.now, later))
        changed += now_view["tx_count_90d"] != later_view["tx_count_90d"]
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:4]}"
    # The later clock moved windows with no new event: most people's 90-day counts fell.
    assert changed > len(world.people) // 2
