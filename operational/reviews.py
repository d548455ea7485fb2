"""The review queue: grey-zone probabilistic matches waiting for a person, who accepts (an audited
merge, operational/identity_ops.py) or rejects them.

review_items  {_id: "review:<record id>", record_id, profile_id, candidate_profile, candidate_record,
               weight, vector, status: pending | accepted | rejected, created_at, decided_at, decided_by,
               on_behalf_of}
`decided_by` is the API key that decided; `on_behalf_of` the person it said it acted for, if any.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from operational.identity_ops import IdentityChange, IdentityConflict, IdentityEditor
from operational.reads import ProfileReader
from operational.store import Store


class ReviewQueue:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._reader = ProfileReader(store)
        self._items = store.db["review_items"]

    def ensure_indexes(self) -> None:
        self._items.create_index([("status", ASCENDING), ("created_at", ASCENDING)])
        self._items.create_index([("profile_id", ASCENDING)])
        self._items.create_index([("candidate_profile", ASCENDING)])

    def open(self, record_id: str, profile_id: str, candidate: str | None, evidence: dict[str, Any]) -> None:
        item = {
            "_id": f"review:{record_id}",
            "record_id": record_id,
            "profile_id": profile_id,
            "candidate_profile": candidate,
            "status": "pending",
            "created_at": datetime.now(UTC),
        }
        with suppress(DuplicateKeyError):  # a replay of the same record: the item exists
            self._items.insert_one(item | evidence)

    def list(
        self, status: str = "pending", profiles: list[str] | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"status": status}
        if profiles is not None:
            query["$or"] = [{"profile_id": {"$in": profiles}}, {"candidate_profile": {"$in": profiles}}]
        return list(self._items.find(query).sort("created_at", ASCENDING).limit(limit))

    def accept(self, review_id: str, editor: IdentityEditor, actor: dict[str, str]) -> IdentityChange:
        """Merge the pair with `editor` (the configured identity rules); `actor` is the audit's
        `{"actor": key name, "on_behalf_of": person}`."""
        item = self._pending(review_id)
        evidence = {k: item.get(k) for k in ("record_id", "weight", "vector", "candidate_record")}
        if item.get("candidate_profile") is None:
            raise IdentityConflict(f"review item {review_id} names no candidate profile to merge with")
        survivor, merged = (
            self._reader.live_id(item["candidate_profile"]),
            self._reader.live_id(item["profile_id"]),
        )
        change = editor.merge(survivor, merged, evidence | {"rule": "review accepted"} | actor)
        self._decide(review_id, "accepted", actor)
        return change

    def reject(self, review_id: str, actor: dict[str, str]) -> None:
        self._pending(review_id)
        self._decide(review_id, "rejected", actor)

    def _pending(self, review_id: str) -> dict[str, Any]:
        item = self._items.find_one({"_id": review_id})
        if item is None:
            raise LookupError(f"review item {review_id} not found")
        if item["status"] != "pending":
            raise IdentityConflict(f"review item {review_id} is already {item['status']}")
        return item

    def _decide(self, review_id: str, status: str, actor: dict[str, str]) -> None:
        audit = {"decided_by": actor["actor"], "on_behalf_of": actor.get("on_behalf_of")}
        update = {"$set": {"status": status, "decided_at": datetime.now(UTC)} | audit}
        self._items.update_one({"_id": review_id, "status": "pending"}, update)
