"""The identity world's hard cases through the real writer and matcher on a genuine MongoDB: final
profiles scored against the generator's ground truth, never against the code under test."""

from __future__ import annotations

import pytest

from c360.identity_world import generate_identity_world, profile_accuracy
from c360.settings import Settings
from identity.matching.estimate import estimate
from identity.matching.schema import PERSON_SCHEMA
from operational.match_store import MatchService
from operational.reads import ProfileReader
from operational.resolving_writer import ResolvingWriter
from operational.store import Store
from operational.writer import ProfileWriter
from tests.held_keys import assert_held_keys_match_edges

pytestmark = pytest.mark.integration
BATCH = 50


def test_hard_cases_never_merge_and_typos_do(settings: Settings, store: Store) -> None:
    world = generate_identity_world(240, seed=11)
    model = estimate(list(world.records.values()), PERSON_SCHEMA)
    rules = settings.identity
    matcher = MatchService(store, model, rules.join_weight, rules.review_weight)
    matcher.ensure_indexes()
    writer = ResolvingWriter(ProfileWriter(store), matcher)
    for start in range(0, len(world.events), BATCH):
        writer.apply(world.events[start : start + BATCH])

    reader = ProfileReader(store)
    placed = {d["_id"]: reader.get(d["profile_id"])["_id"] for d in store.events.find({}, {"profile_id": 1})}
    assert len(placed) == len(world.events)
    accuracy = profile_accuracy(world, placed)
    assert all(n > 0 for n in (len(p) for p in world.hard_pairs.values()))  # the world has every case
    assert accuracy.false_merges == {kind: 0 for kind in world.hard_pairs}
    assert accuracy.precision == 1.0
    assert accuracy.recall >= 0.95, accuracy  # role-mailbox logins stay unattributed, by design
    merges = store.identity_events.count_documents({"kind": "merge", "evidence.rule": "probabilistic match"})
    assert merges >= world.typo_records * 0.5  # typo'd point-of-sale records joined their customer
    # Reassigned phones moved between people: the keys copy followed every move and merge.
    moves = list(store.identity_events.find({"kind": "move"}, {"key": 1}))
    assert moves and not [m for m in moves if m["key"] in m["_id"]]  # ids reach the lake's log: no phone
    assert assert_held_keys_match_edges(store) == store.identities.count_documents({})
