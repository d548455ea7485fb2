"""Profile reads: by id (following merge redirects), by any identifier, a profile's events and timeline.

The API's two hot reads (a profile by id, by identifier) have an asyncio twin in
operational/async_reads.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ingest.events import Identifier, IdentifierType
from operational.held_keys import FIELD as KEYS
from operational.store import Store

MAX_REDIRECTS = 8


def identity_key(type_: IdentifierType, value: str) -> str:
    """Normalized exactly as ingest does, so '  Ann@X.com' finds 'ann@x.com'."""
    return Identifier(type=type_, value=value).key


def holder(key: str) -> dict[str, Any]:
    """The profile holding `key`, by the copy of its edges it carries (operational/held_keys.py)."""
    return {KEYS: key}


def edge_with_profile(key: str) -> list[dict[str, Any]]:
    """The identity edge of `key` with its profile as `p`, in one round trip: the authority, asked when no
    profile carries the key (an unknown identifier, or data older than the copy)."""
    return [
        {"$match": {"_id": key}},
        {"$project": {"profile_id": 1}},
        {"$lookup": {"from": "profiles", "localField": "profile_id", "foreignField": "_id", "as": "p"}},
    ]


class ProfileReader:
    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, profile_id: str) -> dict[str, Any] | None:
        """The live profile; an id merged away resolves to its survivor."""
        return self._live(self._store.profiles.find_one({"_id": profile_id}))

    def _live(self, doc: dict[str, Any] | None) -> dict[str, Any] | None:
        for _ in range(MAX_REDIRECTS):
            if doc is None or "merged_into" not in doc:
                return doc
            doc = self._store.profiles.find_one({"_id": doc["merged_into"]})
        return None

    def live_id(self, profile_id: str) -> str:
        """The id a profile lives under now (itself unless merged away; unknown ids unchanged)."""
        doc = self.get(profile_id)
        return profile_id if doc is None else doc["_id"]

    def lookup(self, type_: IdentifierType, value: str) -> dict[str, Any] | None:
        key = identity_key(type_, value)
        doc = self._store.profiles.find_one(holder(key))
        if doc is None:
            edge = next(self._store.identities.aggregate(edge_with_profile(key)), None)
            doc = None if edge is None or not edge["p"] else edge["p"][0]
        return self._live(doc)

    def recent_events(self, profile_id: str, limit: int) -> list[dict[str, Any]]:
        cursor = self._store.events.find({"profile_id": profile_id}).sort("occurred_at", -1).limit(limit)
        return list(cursor)

    def timeline(
        self, profile_id: str, limit: int, before: tuple[datetime, str] | None
    ) -> list[dict[str, Any]]:
        """Events newest first, keyset-paged on (occurred_at, _id) below `before`: no skip() cost."""
        query: dict[str, Any] = {"profile_id": profile_id}
        if before is not None:
            at, event_id = before
            query["$or"] = [{"occurred_at": {"$lt": at}}, {"occurred_at": at, "_id": {"$lt": event_id}}]
        cursor = self._store.events.find(query).sort([("occurred_at", -1), ("_id", -1)]).limit(limit)
        return list(cursor)
