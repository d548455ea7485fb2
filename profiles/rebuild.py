"""Rebuilding a profile from its own events, pure: the updates that make a profile equal its recompute.

Used after a manual merge or a split, where folding aggregates is not possible (a split cannot
subtract a maximum). The aggregate and activity fields are reset first and then written from the
events (the activity part adds with `$inc` and `$push`: left in place, a rebuild counted every event
twice), so fields other writers own (segments, the CDC part) are left alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ingest.events import CanonicalEvent, Identifier, IdentifierType, RowChange
from profiles.activity import FIELDS as ACTIVITY
from profiles.delta import ProfileDelta

AGGREGATES = ("event_count", "first_seen", "last_seen", "stats", "channels", "identifiers", "merged_from")
REDIRECT = ("merged_into", "merged_at")


def event_from_document(doc: dict[str, Any]) -> CanonicalEvent:
    """The stored event as the canonical model, without re-validating what was validated at ingest."""
    change = doc.get("change")
    return CanonicalEvent.model_construct(
        event_id=doc["_id"],
        source=doc["source"],
        type=doc["type"],
        occurred_at=doc["occurred_at"],
        channel=doc.get("channel"),
        identifiers=tuple(
            Identifier.model_construct(type=IdentifierType(i["type"]), value=i["value"])
            for i in doc["identifiers"]
        ),
        amount=doc.get("amount"),
        currency=doc.get("currency"),
        attributes=doc.get("attributes") or {},
        change=None if change is None else RowChange.model_construct(**change),
    )


def rebuild_updates(
    event_docs: Iterable[dict[str, Any]],
    merged_from: Iterable[str],
    identified: bool,
    now: datetime,
    created_at: datetime | None,
) -> list[dict[str, Any]]:
    """Two updates for one profile: reset its aggregates (and any redirect), then write them anew.

    `created_at` is the stored one; a profile split back out of a redirect has none (the writer leaves
    `{_id, merged_into, merged_at}`), and gets the time its first event was ingested, which is when the
    writer created it (now, if it has no events left)."""
    delta = ProfileDelta()
    ingested: list[datetime] = []
    for doc in event_docs:
        delta.add_event(event_from_document(doc))
        if doc.get("ingested_at") is not None:
            ingested.append(doc["ingested_at"])
    delta.merged_from = set(merged_from)
    write = delta.to_update(now)
    write.pop("$setOnInsert", None)  # the profile exists: its creation time is set here
    write["$set"]["created_at"] = created_at or min(ingested, default=now)
    write["$set"]["identified"] = identified
    write["$set"]["merged_from"] = sorted(delta.merged_from)
    write.pop("$addToSet", None)
    reset = {"$unset": {name: "" for name in AGGREGATES + ACTIVITY + REDIRECT}}
    return [reset, write]
