"""Segment membership written back to MongoDB profiles (`segments`: sorted names), so that the API shows
it. The lake computes who belongs where (lakehouse/segments.py); this writes only the profiles whose
membership changed, each such write a new profile version."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateOne

from operational.store import Store

CHUNK = 1_000


@dataclass(frozen=True)
class WritebackResult:
    profiles_in_segments: int
    profiles_updated: int


def membership_updates(
    stored: Iterable[dict[str, Any]], wanted: Mapping[str, list[str]], now: datetime
) -> list[dict[str, Any]]:
    """One update per live profile whose stored `segments` differ from the wanted ones (pure)."""
    return [
        {
            "q": {"_id": doc["_id"], "merged_into": {"$exists": False}},
            "u": {
                "$set": {"segments": wanted.get(doc["_id"], []), "updated_at": now},
                "$inc": {"version": 1},
            },
        }
        for doc in stored
        if doc.get("segments", []) != wanted.get(doc["_id"], [])
    ]


def write_memberships(store: Store, wanted: Mapping[str, list[str]]) -> WritebackResult:
    stored = store.profiles.find({"merged_into": {"$exists": False}}, {"segments": 1})
    updates = [UpdateOne(s["q"], s["u"]) for s in membership_updates(stored, wanted, datetime.now(UTC))]
    for start in range(0, len(updates), CHUNK):
        store.profiles.bulk_write(updates[start : start + CHUNK], ordered=False)
    return WritebackResult(len(wanted), len(updates))
