"""identity/graph_writes.py: the statements a batch's merges, moves, sightings and new edges plan, checked
against statements written out by hand for hand-built placements (no server)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime

from identity.graph_writes import (
    edit_record,
    key_hash,
    manual_merge_writes,
    merge_writes,
    move_writes,
    new_edges,
    sighting_writes,
    split_writes,
    statement,
)
from identity.rules import IdentityRules
from identity.stitching import Component, Placement
from ingest.events import build_event

NOW = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
RULES = IdentityRules.from_settings()  # attach keys: cookie, device_id; at most 3 profiles each


def ev(n: int, *ids: tuple[str, str]):
    return build_event(
        event_id=f"e{n}",
        source="web",
        type="page_view",
        occurred_at=NOW,
        identifiers=[{"type": t, "value": v} for t, v in ids],
    )


def placement(
    pid: str, *, merged=(), new_keys=(), moved=(), attached=(), events=(), evidence=()
) -> Placement:
    component = Component(events=list(events), evidence=list(evidence))
    return Placement(pid, tuple(merged), tuple(new_keys), component, tuple(moved), tuple(attached))


def test_statement_is_an_update_command_entry() -> None:
    assert statement({"_id": 1}, {"$set": {"a": 1}}) == {
        "q": {"_id": 1},
        "u": {"$set": {"a": 1}},
        "upsert": False,
        "multi": False,
    }
    assert statement({}, {}, upsert=True, multi=True) == {"q": {}, "u": {}, "upsert": True, "multi": True}


def test_key_hash_is_the_sha256_of_the_key() -> None:
    assert key_hash("email:ann@x.com") == hashlib.sha256(b"email:ann@x.com").hexdigest()


def test_no_merge_plans_nothing() -> None:
    assert merge_writes([placement("pA")], {}, NOW) == []
    assert move_writes([placement("pA")], NOW) == []
    assert sighting_writes([placement("pA")], {}, RULES) == []


def test_a_merge_repoints_everything_leaves_redirects_and_lineage() -> None:
    evidence = [{"event_id": "e1", "keys": ["email:a@x.com"]}]
    plan = merge_writes(
        [placement("pA", merged=("pB", "pC"), evidence=evidence), placement("pD")],
        {"pB": NOW.replace(year=2025), "pC": None},
        NOW,
    )
    losers = ["pB", "pC"]
    retarget = [
        {
            "q": {"profile_id": {"$in": losers}},
            "u": {"$set": {"profile_id": "pA"}},
            "upsert": False,
            "multi": True,
        }
    ]
    assert plan[0] == ("identities", "update", retarget)
    assert plan[1] == (
        "identities",
        "update",
        [
            {
                "q": {"profiles": {"$in": losers}},
                "u": {"$addToSet": {"profiles": "pA"}},
                "upsert": False,
                "multi": True,
            },
            {
                "q": {"profiles": {"$in": losers}},
                "u": {"$pullAll": {"profiles": losers}},
                "upsert": False,
                "multi": True,
            },
        ],
    )
    assert plan[2] == ("events", "update", retarget)
    assert plan[3] == ("cdc_rows", "update", retarget)
    assert plan[4] == (
        "profiles",
        "update",
        [
            {
                "q": {"merged_into": {"$in": losers}},
                "u": {"$set": {"merged_into": "pA"}},
                "upsert": False,
                "multi": True,
            },
            {
                "q": {"_id": "pB"},
                "u": {"merged_into": "pA", "merged_at": NOW},
                "upsert": False,
                "multi": False,
            },
            {
                "q": {"_id": "pC"},
                "u": {"merged_into": "pA", "merged_at": NOW},
                "upsert": False,
                "multi": False,
            },
        ],
    )
    assert plan[5] == (
        "identity_events",
        "insert",
        [
            {
                "_id": "merge:pB:pA:2026-05-01T09:30:00+00:00",
                "kind": "merge",
                "survivor": "pA",
                "merged": "pB",
                "merged_first_seen": NOW.replace(year=2025),
                "evidence": evidence,
                "at": NOW,
            },
            {
                "_id": "merge:pC:pA:2026-05-01T09:30:00+00:00",
                "kind": "merge",
                "survivor": "pA",
                "merged": "pC",
                "merged_first_seen": None,
                "evidence": evidence,
                "at": NOW,
            },
        ],
    )
    assert len(plan) == 6


def test_a_moved_key_changes_owner_with_its_carriers_as_evidence() -> None:
    key = "phone:+447911123456"
    events = [ev(n, ("phone", "+447911123456")) for n in range(25)] + [ev(99, ("email", "z@x.com"))]
    plan = move_writes([placement("pNew", moved=((key, "pOld"),), events=events)], NOW)
    assert plan[0] == (
        "identities",
        "update",
        [
            {
                "q": {"_id": key},
                "u": {"$set": {"profile_id": "pNew", "origin": "pNew"}},
                "upsert": False,
                "multi": False,
            }
        ],
    )
    collection, kind, docs = plan[1]
    assert (collection, kind, len(docs), len(plan)) == ("identity_events", "insert", 1, 2)
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    assert docs[0] == {
        "_id": f"move:{digest}:pOld:pNew:e0",
        "kind": "move",
        "survivor": "pNew",
        "from": "pOld",
        "key": key,
        "evidence": [{"rule": "cap refused the merge", "event_ids": [f"e{n}" for n in range(20)]}],
        "at": NOW,
    }


def test_a_sighting_saturates_past_the_attach_cap() -> None:
    cap = RULES.attach_max_profiles
    edges = {
        "cookie:few": {"profiles": [f"p{n}" for n in range(cap - 1)]},
        "cookie:full": {"profiles": [f"p{n}" for n in range(cap)]},
        "cookie:seen": {"profiles": ["pA"]},
    }
    plan = sighting_writes(
        [placement("pA", attached=("cookie:few", "cookie:full", "cookie:seen"))], edges, RULES
    )
    assert plan == [
        (
            "identities",
            "update",
            [
                statement({"_id": k}, {"$addToSet": {"profiles": "pA"}, "$set": {"saturated": s}})
                for k, s in [("cookie:few", False), ("cookie:full", True), ("cookie:seen", False)]
            ],
        )
    ]


def test_new_edges_merge_keys_own_attach_keys_list_and_saturate() -> None:
    cap = RULES.attach_max_profiles
    placements = [placement(f"p{n}", new_keys=("cookie:c1",)) for n in range(cap + 1)]
    placements[0] = replace(placements[0], new_keys=("email:a@x.com", "cookie:c1"))
    placements.append(placement("pLast", new_keys=("email:a@x.com",)))
    docs = new_edges(placements, NOW, RULES)
    assert docs["email:a@x.com"] == {
        "_id": "email:a@x.com",
        "profile_id": "pLast",
        "type": "email",
        "origin": "pLast",
        "created_at": NOW,
    }
    cookie = docs["cookie:c1"]
    assert cookie["profiles"] == [f"p{n}" for n in range(cap + 1)]
    assert (cookie["profile_id"], cookie["origin"], cookie["type"]) == ("p0", "p0", "cookie")
    assert cookie["saturated"] is True
    assert new_edges(placements[:cap], NOW, RULES)["cookie:c1"]["saturated"] is False
    assert "saturated" not in new_edges(placements[:1], NOW, RULES)["cookie:c1"]
    assert set(docs) == {"email:a@x.com", "cookie:c1"}


def test_a_manual_merge_folds_the_side_into_the_survivor() -> None:
    evidence = {"actor": "ops", "reason": "same passport"}
    plan = manual_merge_writes("pA", "pB", ["pB", "pZ", "pC"], evidence, NOW)
    repoint = [statement({"profile_id": "pB"}, {"$set": {"profile_id": "pA"}}, multi=True)]
    assert plan[:3] == [
        ("cdc_rows", "update", repoint),
        ("events", "update", repoint),
        ("identities", "update", repoint),
    ]
    redirect = {"$set": {"merged_into": "pA", "merged_at": NOW}, "$unset": {"identity_keys": ""}}
    assert plan[3] == (
        "profiles",
        "update",
        [statement({"_id": {"$in": ["pB", "pC", "pZ"]}}, redirect, multi=True)],
    )
    record = {
        "_id": "merge:pB:pA:2026-05-01T09:30:00+00:00",
        "kind": "merge",
        "survivor": "pA",
        "merged": "pB",
        "evidence": [evidence],
        "at": NOW,
    }
    assert plan[4] == ("identity_events", "insert", [record])
    assert len(plan) == 5


def test_a_split_gives_the_side_back_what_was_first_its() -> None:
    evidence = {"actor": "ops"}
    plan = split_writes("pA", "pB", ["pB", "pC"], evidence, NOW)
    back = {"$set": {"profile_id": "pB"}}
    assert plan[0] == (
        "events",
        "update",
        [statement({"profile_id": "pA", "placed_on": {"$in": ["pB", "pC"]}}, back, multi=True)],
    )
    assert plan[1] == (
        "identities",
        "update",
        [statement({"profile_id": "pA", "origin": {"$in": ["pB", "pC"]}}, back, multi=True)],
    )
    redirect = {"$set": {"merged_into": "pB", "merged_at": NOW}}
    assert plan[2] == ("profiles", "update", [statement({"_id": {"$in": ["pC"]}}, redirect, multi=True)])
    assert plan[3] == edit_record("split", "pA", "pB", evidence, NOW)
    assert plan[3][2][0]["_id"] == "split:pB:pA:2026-05-01T09:30:00+00:00"
    assert plan[3][2][0]["kind"] == "split" and plan[3][2][0]["evidence"] == [evidence]
    assert len(plan) == 4
