"""Probabilistic matching against the operational store: the blocking index and the review queue.

match_records  {_id: record id, profile_id, keys: [blocking keys], record: {field: value}, at}
               multikey index on `keys`: each new record reads only the records it shares a key with

A record that matches above the join weight merges its profile into the candidate's (an audited merge
with the score as evidence, operational/identity_ops.py); a grey-zone match opens a review item
(operational/reviews.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING

from identity.matching.model import MatchModel
from identity.matching.resolver import Candidate, Decision, Entry, StreamingResolver
from identity.matching.schema import Record
from operational.identity_ops import IdentityConflict, IdentityEditor
from operational.reads import ProfileReader
from operational.reviews import ReviewQueue
from operational.store import Store

MAX_CANDIDATES = 2_000


class MongoIndex:
    """The resolver's CandidateIndex on `match_records`; a record's cluster is its profile id."""

    def __init__(self, store: Store) -> None:
        self.records = store.db["match_records"]

    def ensure_indexes(self) -> None:
        self.records.create_index([("keys", ASCENDING)])
        self.records.create_index([("profile_id", ASCENDING)])

    def candidates(self, keys: list[str]) -> list[Candidate]:
        if not keys:
            return []
        projection = {"profile_id": 1, "record": 1, "keys": 1}
        cursor = self.records.find({"keys": {"$in": keys}}, projection, limit=MAX_CANDIDATES)
        return [Candidate(d["_id"], d["profile_id"], d["record"], tuple(d["keys"])) for d in cursor]

    def add(self, entries: list[Entry]) -> None:
        if not entries:
            return
        now = datetime.now(UTC)
        docs = [
            {"_id": e.record_id, "profile_id": e.cluster, "keys": e.keys, "record": e.record, "at": now}
            for e in entries
        ]
        self.records.insert_many(docs, ordered=False)


@dataclass(frozen=True)
class MatchOutcome:
    record_id: str
    profile_id: str  # where the record's profile lives now
    decision: Decision


class MatchService:
    """Matches records that carry no shared identifier, and keeps the review queue."""

    def __init__(self, store: Store, model: MatchModel, join_weight: float, review_weight: float) -> None:
        self._store = store
        self._reader = ProfileReader(store)
        self._index = MongoIndex(store)
        self._resolver = StreamingResolver(model, self._index, join_weight, review_weight)
        self._editor = IdentityEditor(store)
        self._reviews = ReviewQueue(store)

    def ensure_indexes(self) -> None:
        self._index.ensure_indexes()
        self._reviews.ensure_indexes()

    def match_events(self, people: dict[str, Record]) -> list[MatchOutcome]:
        """Match the person fields of stored events (by event id) not matched before."""
        done = {d["_id"] for d in self._index.records.find({"_id": {"$in": list(people)}}, {"_id": 1})}
        todo = [eid for eid in people if eid not in done]
        placed = {
            d["_id"]: d["profile_id"]
            for d in self._store.events.find({"_id": {"$in": todo}}, {"profile_id": 1})
        }
        outcomes = self.match([(eid, placed[eid], people[eid]) for eid in todo if eid in placed])
        self._forget_erased(list(placed))
        return outcomes

    def _forget_erased(self, event_ids: list[str]) -> None:
        """An erasure that removed some of these events while they were matched (this runs outside the
        writer's transaction) would miss the records and review items just written for them."""
        if not event_ids:
            return
        kept = {d["_id"] for d in self._store.events.find({"_id": {"$in": event_ids}}, {"_id": 1})}
        gone = [eid for eid in event_ids if eid not in kept]
        if gone:
            self._index.records.delete_many({"_id": {"$in": gone}})
            self._store.db["review_items"].delete_many({"_id": {"$in": [f"review:{eid}" for eid in gone]}})

    def match(self, items: Sequence[tuple[str, str, Record]]) -> list[MatchOutcome]:
        """(record id, the profile the record's event landed on, its fields), in arrival order."""
        results = self._resolver.resolve_batch(
            [(rid, record) for rid, _, record in items], [pid for _, pid, _ in items]
        )
        outcomes = []
        for (rid, own, _), (_, decision) in zip(items, results, strict=True):
            own = self._reader.live_id(own)
            other = self._reader.live_id(decision.cluster) if decision.cluster else own
            if decision.outcome == "join" and other != own:
                own = self._join(other, own, rid, decision)
            elif decision.outcome == "review" and other != own:
                self._reviews.open(rid, own, decision.cluster, _evidence(rid, decision))
            outcomes.append(MatchOutcome(rid, own, decision))
        return outcomes

    def _join(self, survivor: str, merged: str, record_id: str, decision: Decision) -> str:
        evidence = _evidence(record_id, decision) | {"rule": "probabilistic match"}
        try:
            self._editor.merge(survivor, merged, evidence)
        except IdentityConflict:  # a cap forbids it (two customer ids): a person decides
            self._index.records.update_one({"_id": record_id}, {"$set": {"profile_id": merged}})
            self._reviews.open(record_id, merged, decision.cluster, _evidence(record_id, decision))
            return merged
        return survivor


def _evidence(record_id: str, decision: Decision) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "candidate_record": decision.record_id,
        "weight": decision.weight,
        "vector": list(decision.vector or ()),
    }
