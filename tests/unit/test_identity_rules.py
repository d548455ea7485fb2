"""The deterministic identity rules on hand-built graphs: what merges, what only attaches, what moves."""

from datetime import UTC, datetime, timedelta

from identity.rules import IdentityRules
from identity.stitching import Graph, group, new_profile_id, place
from ingest.events import build_event

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RULES = IdentityRules.from_settings()


def ev(n: int, *ids: tuple[str, str]):
    return build_event(
        event_id=f"e{n}",
        source="t",
        type="visit",
        occurred_at=T0 + timedelta(hours=n),
        identifiers=[{"type": t, "value": v} for t, v in ids],
    )


def placements(events, graph: Graph, first_seen=None):
    return [place(c, graph, first_seen or {}, RULES) for c in group(events, graph, RULES)]


def test_shared_device_attaches_but_never_joins_two_identified_profiles() -> None:
    graph = Graph({"device_id:tablet": "pdad", "email:dad@x.com": "pdad"}, identified=frozenset({"pdad"}))
    [placed] = placements([ev(1, ("email", "mum@x.com"), ("device_id", "tablet"))], graph)
    assert placed.profile_id != "pdad" and placed.merged == ()
    assert placed.attached == ("device_id:tablet",)


def test_anonymous_cookie_profile_folds_into_the_profile_that_logs_in() -> None:
    graph = Graph({"cookie:c1": "panon", "email:a@x.com": "pann"}, identified=frozenset({"pann"}))
    first_seen = {"pann": T0, "panon": T0 + timedelta(days=1)}
    [placed] = placements([ev(1, ("email", "a@x.com"), ("cookie", "c1"))], graph, first_seen)
    assert (placed.profile_id, placed.merged) == ("pann", ("panon",))
    assert "anonymous profile identified" in {e["rule"] for e in placed.component.evidence}


def test_anonymous_activity_follows_its_cookie_unless_the_cookie_is_saturated() -> None:
    graph = Graph({"cookie:c1": "pann"}, identified=frozenset({"pann"}))
    assert placements([ev(1, ("cookie", "c1"))], graph)[0].profile_id == "pann"
    saturated = Graph({"cookie:c1": "pann"}, saturated=frozenset({"cookie:c1"}))
    [placed] = placements([ev(1, ("cookie", "c1"))], saturated)
    assert placed.profile_id == new_profile_id("shared:e1")


def test_anonymous_activity_on_a_shared_device_credits_its_first_user_and_merges_nobody() -> None:
    events = [
        ev(1, ("email", "dad@x.com"), ("device_id", "tv")),
        ev(2, ("email", "mum@x.com"), ("device_id", "tv")),
        ev(3, ("device_id", "tv")),
    ]
    placed = placements(events, Graph())
    assert sorted(sorted(e.event_id for e in p.component.events) for p in placed) == [["e1", "e3"], ["e2"]]
    assert all(p.merged == () for p in placed)


def test_a_new_device_beside_a_role_mailbox_is_not_pinned_on_its_first_user() -> None:
    graph = Graph({"email:info@shop.com": "pstaff1"}, identified=frozenset({"pstaff1"}))
    [placed] = placements([ev(1, ("email", "info@shop.com"), ("device_id", "phone-2"))], graph)
    assert placed.profile_id != "pstaff1" and placed.merged == () and placed.ambiguous


def test_role_addresses_never_merge() -> None:
    assert RULES.is_role_address("info") and not RULES.merges_key("email:info+shop@acme.com")
    assert RULES.merges_key("email:ann@acme.com")
    events = [
        ev(1, ("customer_id", "C1"), ("email", "info@acme.com")),
        ev(2, ("customer_id", "C2"), ("email", "info@acme.com")),
    ]
    assert len(placements(events, Graph())) == 2


def test_reassigned_phone_moves_to_the_new_owner_instead_of_merging() -> None:
    graph = Graph(
        {
            "phone:+447911123456": "pold",
            "customer_id:C1": "pold",
            "email:new@x.com": "pnew",
            "customer_id:C2": "pnew",
        },
        identified=frozenset({"pold", "pnew"}),
        held={"pold": frozenset({"customer_id:C1"}), "pnew": frozenset({"customer_id:C2"})},
    )
    first_seen = {"pold": T0, "pnew": T0 + timedelta(days=9)}
    [placed] = placements([ev(1, ("customer_id", "C2"), ("phone", "+447911123456"))], graph, first_seen)
    assert (placed.profile_id, placed.merged) == ("pnew", ())
    assert placed.moved == (("phone:+447911123456", "pold"),)


def test_new_customer_with_a_recycled_phone_gets_its_own_profile() -> None:
    graph = Graph(
        {"phone:+447911123456": "pold", "customer_id:C1": "pold"},
        held={"pold": frozenset({"customer_id:C1"})},
    )
    [placed] = placements([ev(1, ("customer_id", "C9"), ("phone", "+447911123456"))], graph)
    assert placed.profile_id == new_profile_id("customer_id:C9")
    assert placed.moved == (("phone:+447911123456", "pold"),) and placed.merged == ()


def test_caps_come_from_settings() -> None:
    assert RULES.within_caps(["customer_id:a", "email:x", "email:y"])
    assert not RULES.within_caps(["customer_id:a", "customer_id:b"])
