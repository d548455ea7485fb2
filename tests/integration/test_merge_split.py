"""Merge and split on a genuine MongoDB: both profiles must equal a recompute from their own events
(counts, exact sums, maxima, distinct counts, top items), computed here from the test's own event list."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ingest.events import CanonicalEvent, build_event
from operational.identity_ops import IdentityConflict, IdentityEditor
from operational.reads import ProfileReader
from operational.store import Store
from operational.writer import ProfileWriter
from tests.held_keys import assert_held_keys_match_edges

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, tzinfo=UTC)
TYPES = ("order", "refund", "visit")
CHANNELS = ("web", "store", "mobile")


def ev(n: int, *ids: tuple[str, str]) -> CanonicalEvent:
    return build_event(
        event_id=f"e{n}",
        source="test",
        type=TYPES[n % 3],
        occurred_at=T0 + timedelta(hours=n * 7 % 500),
        channel=CHANNELS[n % 2 + (n % 5 == 0)],
        identifiers=[{"type": t, "value": v} for t, v in ids],
        amount=Decimal(n * 37 % 1000) / 100,
    )


def recompute(events: list[CanonicalEvent]) -> dict[str, Any]:
    """The test's own aggregation: what a profile of exactly these events must say."""
    types = Counter(e.type for e in events)
    return {
        "event_count": len(events),
        "first_seen": min(e.occurred_at for e in events),
        "last_seen": max(e.occurred_at for e in events),
        "stats": {t: (c, sum(e.amount for e in events if e.type == t)) for t, c in types.items()},
        "channels": {
            c: max(e.occurred_at for e in events if e.channel == c) for c in {e.channel for e in events}
        },
        "distinct_identifiers": len({i.key for e in events for i in e.identifiers}),
        "top_type": max(types.items(), key=lambda kv: (kv[1], kv[0]))[0],
        # The activity part: every event counted once in its day, and once in the timeline.
        "daily_events": len(events),
        "timeline": sorted(e.event_id for e in events),
    }


def observed(doc: dict[str, Any]) -> dict[str, Any]:
    stats = doc["stats"]
    return {
        "event_count": doc["event_count"],
        "first_seen": doc["first_seen"],
        "last_seen": doc["last_seen"],
        "stats": {t: (s["count"], s.get("amount")) for t, s in stats.items()},
        "channels": doc["channels"],
        "distinct_identifiers": len(doc["identifiers"]),
        "top_type": max(stats.items(), key=lambda kv: (kv[1]["count"], kv[0]))[0],
        "daily_events": sum(sum(day["n"].values()) for day in doc["daily"].values()),
        "timeline": sorted(entry["event_id"] for entry in doc["timeline"]),
    }


def test_wrong_automatic_merge_split_returns_both_profiles_to_their_recompute(store: Store) -> None:
    writer, reader, editor = ProfileWriter(store), ProfileReader(store), IdentityEditor(store)
    ann = [ev(n, ("email", "ann@x.com"), ("cookie", "ca")) for n in range(1, 30, 2)]
    bob = [ev(n, ("loyalty_id", "L-B"), ("phone", "+447911123456")) for n in range(2, 24, 2)]
    writer.apply(ann[:8] + bob)
    ann_id, bob_id = reader.lookup("email", "ann@x.com")["_id"], reader.lookup("loyalty_id", "L-B")["_id"]
    bridge = ev(40, ("email", "ann@x.com"), ("loyalty_id", "L-B"))  # a clerk typed Bob's card on Ann's order
    writer.apply([bridge])
    survivor = reader.get(bob_id)
    assert survivor["_id"] == reader.get(ann_id)["_id"]
    assert observed(survivor) == recompute(ann[:8] + bob + [bridge])
    writer.apply(ann[8:])  # after the merge: lands on the survivor
    loser = bob_id if survivor["_id"] == ann_id else ann_id

    change = editor.split(survivor["_id"], loser, {"reason": "clerk error", "actor": "test"})
    assert change.kind == "split"
    loser_events = bob if loser == bob_id else ann[:8]
    survivor_events = [e for e in ann + bob + [bridge] if e not in loser_events]
    assert observed(reader.get(loser)) == recompute(loser_events)
    assert observed(reader.get(survivor["_id"])) == recompute(survivor_events)
    assert reader.get(loser)["_id"] == loser  # no longer a redirect

    later = ev(41, ("loyalty_id", "L-B"))  # Bob's identifiers lead to Bob's profile again
    writer.apply([later])
    assert reader.lookup("loyalty_id", "L-B")["_id"] == bob_id
    assert {d["kind"] for d in store.identity_events.find()} == {"merge", "split"}
    assert assert_held_keys_match_edges(store) == 4


def test_manual_merge_then_split_restores_both_recomputes(store: Store) -> None:
    writer, reader, editor = ProfileWriter(store), ProfileReader(store), IdentityEditor(store)
    ann = [ev(n, ("email", "ann@x.com")) for n in range(1, 20, 2)]
    ann2 = [ev(n, ("email", "ann.smith@y.com")) for n in range(100, 121, 3)]
    writer.apply(ann + ann2)
    a, b = reader.lookup("email", "ann@x.com")["_id"], reader.lookup("email", "ann.smith@y.com")["_id"]
    editor.merge(a, b, {"reason": "same person, reviewed", "actor": "test"})
    assert reader.get(b)["_id"] == a
    assert observed(reader.get(a)) == recompute(ann + ann2)
    assert reader.lookup("email", "ann.smith@y.com")["_id"] == a
    assert reader.get(a)["identity_keys"] == ["email:ann.smith@y.com", "email:ann@x.com"]

    editor.split(a, b, {"reason": "undo", "actor": "test"})
    assert reader.lookup("email", "ann.smith@y.com")["_id"] == b
    assert assert_held_keys_match_edges(store) == 2
    assert observed(reader.get(a)) == recompute(ann)
    assert observed(reader.get(b)) == recompute(ann2)
    assert reader.get(a)["merged_from"] == [] and reader.get(b)["merged_from"] == []

    editor.merge(a, b, {"reason": "redo", "actor": "test"})  # the same pair may merge again
    assert observed(reader.get(a)) == recompute(ann + ann2)


def test_manual_merge_refuses_two_customer_ids(store: Store) -> None:
    writer, reader, editor = ProfileWriter(store), ProfileReader(store), IdentityEditor(store)
    writer.apply([ev(1, ("customer_id", "C1")), ev(2, ("customer_id", "C2"))])
    a, b = (reader.lookup("customer_id", c)["_id"] for c in ("C1", "C2"))
    with pytest.raises(IdentityConflict, match="cap"):
        editor.merge(a, b, {"reason": "wrong", "actor": "test"})
    with pytest.raises(IdentityConflict, match="not merged"):
        editor.split(a, b, {"reason": "wrong", "actor": "test"})


def test_split_of_a_nested_merge_takes_its_own_merges_along(store: Store) -> None:
    """a <- b <- c: splitting b off a gives b back its own events and c's, while c stays folded into b;
    unrelated merges elsewhere (d <- e) are history the split must not read into the family."""
    writer, reader, editor = ProfileWriter(store), ProfileReader(store), IdentityEditor(store)
    people = {
        name: [ev(n, ("email", f"{name}@x.com")) for n in range(start, start + 12, 3)]
        for name, start in (("a", 1), ("b", 200), ("c", 400), ("d", 600), ("e", 800))
    }
    writer.apply([e for events in people.values() for e in events])
    pid = {name: reader.lookup("email", f"{name}@x.com")["_id"] for name in people}
    editor.merge(pid["d"], pid["e"], {"reason": "elsewhere", "actor": "test"})
    editor.merge(pid["b"], pid["c"], {"reason": "first", "actor": "test"})
    editor.merge(pid["a"], pid["b"], {"reason": "second", "actor": "test"})
    assert observed(reader.get(pid["a"])) == recompute(people["a"] + people["b"] + people["c"])

    editor.split(pid["a"], pid["b"], {"reason": "undo the second", "actor": "test"})
    assert observed(reader.get(pid["a"])) == recompute(people["a"])
    assert observed(reader.get(pid["b"])) == recompute(people["b"] + people["c"])
    assert reader.lookup("email", "c@x.com")["_id"] == pid["b"]
    assert observed(reader.get(pid["d"])) == recompute(people["d"] + people["e"])
    assert assert_held_keys_match_edges(store) == 5

    editor.split(pid["b"], pid["c"], {"reason": "undo the first", "actor": "test"})
    assert observed(reader.get(pid["b"])) == recompute(people["b"])
    assert observed(reader.get(pid["c"])) == recompute(people["c"])
    assert {reader.lookup("email", f"{name}@x.com")["_id"] for name in "abc"} == {pid[n] for n in "abc"}
    assert assert_held_keys_match_edges(store) == 5
