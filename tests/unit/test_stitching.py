from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bson.decimal128 import Decimal128

from identity.rules import IdentityRules
from identity.stitching import Graph, group, new_profile_id, place
from ingest.events import build_event
from profiles.delta import ProfileDelta, identifier_field

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ev(
    n: int, *ids: tuple[str, str], type_: str = "transaction", amount: str | None = None, channel: str = "web"
):
    return build_event(
        event_id=f"e{n}",
        source="t",
        type=type_,
        occurred_at=T0 + timedelta(hours=n),
        channel=channel,
        identifiers=[{"type": t, "value": v} for t, v in ids],
        amount=None if amount is None else Decimal(amount),
    )


RULES = IdentityRules.from_settings()


def test_events_sharing_identifiers_transitively_form_one_component() -> None:
    events = [
        ev(1, ("cookie", "c1")),
        ev(2, ("cookie", "c1"), ("email", "a@b.co")),
        ev(3, ("email", "a@b.co")),
        ev(4, ("cookie", "c2")),
    ]
    comps = sorted(group(events, Graph(), RULES), key=lambda c: len(c.events))
    assert [sorted(e.event_id for e in c.events) for c in comps] == [["e4"], ["e1", "e2", "e3"]]
    assert comps[1].keys == {"cookie:c1", "email:a@b.co"}


def test_new_component_gets_id_from_smallest_merge_key_whatever_the_order() -> None:
    a = [ev(1, ("email", "z@b.co")), ev(2, ("email", "z@b.co"), ("cookie", "c9"))]
    placed = [place(c, Graph(), {}, RULES) for c in group(a, Graph(), RULES)]
    placed += [place(c, Graph(), {}, RULES) for c in group(a[::-1], Graph(), RULES)]
    assert {p.profile_id for p in placed} == {new_profile_id("email:z@b.co")}  # named after a merge key
    assert placed[0].new_keys == ("cookie:c9", "email:z@b.co") and placed[0].merged == ()


def test_bridge_event_merges_known_profiles_oldest_survives() -> None:
    graph = Graph({"phone:+447911123456": "pnew", "email:a@b.co": "pold"})
    first_seen = {"pnew": T0 + timedelta(days=3), "pold": T0}
    comps = group([ev(5, ("phone", "+447911123456"), ("email", "a@b.co"))], graph, RULES)
    assert len(comps) == 1
    placement = place(comps[0], graph, first_seen, RULES)
    assert (placement.profile_id, placement.merged, placement.new_keys) == ("pold", ("pnew",), ())
    identifiers = ["phone:+447911123456", "email:a@b.co"]
    rule = "shared identifier"
    assert placement.component.evidence == [{"event_id": "e5", "identifiers": identifiers, "rule": rule}]


def test_age_tie_broken_by_id() -> None:
    graph = Graph({"email:x@b.co": "pb", "loyalty_id:l2": "pa"})
    comps = group([ev(1, ("email", "x@b.co"), ("loyalty_id", "l2"))], graph, RULES)
    assert place(comps[0], graph, {"pa": T0, "pb": T0}, RULES).profile_id == "pa"


def test_delta_counts_sums_and_spans() -> None:
    delta = ProfileDelta()
    delta.add_event(ev(1, ("cookie", "c1"), amount="10.10", channel="mobile"))
    delta.add_event(ev(3, ("cookie", "c1"), amount="0.20", channel="mobile"))
    delta.add_event(ev(2, ("email", "a@b.co"), type_="page_view"))
    now = T0 + timedelta(days=9)
    update = delta.to_update(now)
    own = {k: v for k, v in update["$inc"].items() if not k.startswith("daily.")}  # activity: test_activity
    assert own == {
        "version": 1,
        "event_count": 3,
        "stats.transaction.count": 2,
        "stats.transaction.amount": Decimal128("10.30"),
        "stats.page_view.count": 1,
    }
    cookie = identifier_field("cookie:c1")
    assert update["$min"]["first_seen"] == T0 + timedelta(hours=1)
    assert update["$max"]["last_seen"] == T0 + timedelta(hours=3)
    assert update["$max"]["channels.mobile"] == T0 + timedelta(hours=3)
    assert update["$max"]["channels.web"] == T0 + timedelta(hours=2)
    assert update["$min"][f"identifiers.{cookie}.first_seen"] == T0 + timedelta(hours=1)
    assert update["$max"][f"identifiers.{cookie}.last_seen"] == T0 + timedelta(hours=3)
    assert update["$set"][f"identifiers.{cookie}.value"] == "c1"
    assert update["$setOnInsert"] == {"created_at": now}


def test_folding_a_merged_profile_adds_its_aggregates() -> None:
    email = identifier_field("email:a@b.co")
    loser = {
        "_id": "p2",
        "event_count": 4,
        "first_seen": T0,
        "last_seen": T0 + timedelta(days=1),
        "stats": {"transaction": {"count": 4, "amount": Decimal128("1.01")}},
        "channels": {"branch": T0},
        "merged_from": ["p0"],
        "identifiers": {email: {"type": "email", "value": "a@b.co", "first_seen": T0, "last_seen": T0}},
    }
    delta = ProfileDelta()
    delta.add_event(ev(30, ("email", "a@b.co"), amount="2.00"))
    delta.add_profile(loser)
    update = delta.to_update(T0)
    assert update["$inc"]["event_count"] == 5
    assert update["$inc"]["stats.transaction.count"] == 5
    assert update["$inc"]["stats.transaction.amount"] == Decimal128("3.01")
    assert update["$min"]["first_seen"] == T0
    assert update["$max"]["last_seen"] == T0 + timedelta(hours=30)
    assert update["$min"][f"identifiers.{email}.first_seen"] == T0
    assert update["$addToSet"] == {"merged_from": {"$each": ["p0", "p2"]}}
