"""The invariant behind one-command lookups (operational/held_keys.py), checked against the edges."""

from __future__ import annotations

from collections import defaultdict

from operational.store import Store


def assert_held_keys_match_edges(store: Store) -> int:
    """Every live profile carries exactly the keys whose edge names it, and a redirect carries none;
    returns how many keys were checked, so that a caller can tell the check was not vacuous."""
    edges: dict[str, set[str]] = defaultdict(set)
    for edge in store.identities.find({}, {"profile_id": 1}):
        edges[edge["profile_id"]].add(edge["_id"])
    checked = 0
    for doc in store.profiles.find({}, {"identity_keys": 1, "merged_into": 1}):
        if "merged_into" in doc:
            assert not doc.get("identity_keys"), doc
            continue
        held = doc.get("identity_keys", [])
        assert len(held) == len(set(held)) and set(held) == edges.pop(doc["_id"], set()), doc["_id"]
        checked += len(held)
    assert not edges, f"edges naming no live profile: {dict(edges)}"
    return checked
