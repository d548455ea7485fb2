"""A profile's identity graph, for explaining it: which identifiers it holds (with the sources that sent
them and when they were first and last seen), every merge, split and move that shaped it with its
evidence, and the review items still waiting for a person."""

from __future__ import annotations

from typing import Any

from operational.reads import ProfileReader
from operational.reviews import ReviewQueue
from operational.store import Store

_IDENTIFIERS = [
    {"$unwind": "$identifiers"},
    {
        "$group": {
            "_id": {"type": "$identifiers.type", "value": "$identifiers.value"},
            "sources": {"$addToSet": "$source"},
            "first_seen": {"$min": "$occurred_at"},
            "last_seen": {"$max": "$occurred_at"},
            "events": {"$sum": 1},
        }
    },
    {"$sort": {"_id.type": 1, "_id.value": 1}},
]


def identity_graph(store: Store, profile_id: str) -> dict[str, Any] | None:
    profile = ProfileReader(store).get(profile_id)
    if profile is None:
        return None
    live = profile["_id"]
    lineage = [live, *profile.get("merged_from", [])]
    edges = {d["_id"]: d for d in store.identities.find({"profile_id": live})}
    identifiers = []
    for row in store.events.aggregate([{"$match": {"profile_id": live}}, *_IDENTIFIERS]):
        key = f"{row['_id']['type']}:{row['_id']['value']}"
        edge = edges.get(key)
        identifiers.append(
            row["_id"]
            | {k: row[k] for k in ("sources", "first_seen", "last_seen", "events")}
            | {"sources": sorted(row["sources"]), "owned": edge is not None}
            | ({"shared_with": len(edge.get("profiles", [live])) - 1} if edge else {})
        )
    history = store.identity_events.find(
        {"$or": [{"survivor": {"$in": lineage}}, {"merged": {"$in": lineage}}, {"from": {"$in": lineage}}]}
    ).sort("at", 1)
    return {
        "profile_id": live,
        "requested_id": profile_id,
        "merged_from": profile.get("merged_from", []),
        "identifiers": identifiers,
        "history": list(history),
        "pending_reviews": ReviewQueue(store).list("pending", lineage),
    }
