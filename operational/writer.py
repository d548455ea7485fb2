"""The profile writer: applies a micro-batch of canonical events to MongoDB, a few hundred per transaction.

Effects are durable and exactly-once when `apply` returns: events already recorded (by id) are skipped,
and within a transaction the identity keys, merges, event records and one update per touched profile
(with the copy of the keys it holds, operational/held_keys.py) commit together or not at all.
Concurrent writers touching the same profiles conflict inside MongoDB and are retried by
`with_transaction`, so several ingest processes in one consumer group converge.

CDC row changes go through the same transaction: upserts are placed on profiles like any event, then
the latest row per key is kept in `cdc_rows` (position-guarded, profiles/row_state.py) and the CDC
part of every touched profile is recomputed from its live rows (profiles/cdc.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pymongo import ReplaceOne
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from identity.graph_writes import Write, merge_writes, move_writes, new_edges, sighting_writes, statement
from identity.rules import IdentityRules
from identity.stitching import Component, Graph, Placement, group, place
from ingest.events import CanonicalEvent
from operational.held_keys import FIELD as KEYS
from operational.held_keys import held_keys
from operational.store import Store
from operational.suppression import suppressed_keys
from profiles.cdc import cdc_profile
from profiles.delta import ProfileDelta
from profiles.row_state import marker_id, plan_rows, row_id

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class ApplyResult:
    applied: int
    duplicates: int
    profiles_touched: int
    merges: int
    suppressed: int = 0  # events of erased people, dropped (operational/suppression.py)


def event_document(event: CanonicalEvent, profile_id: str | None, now: datetime) -> dict[str, Any]:
    return {
        "_id": event.event_id,
        "schema_version": event.schema_version,
        "source": event.source,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "channel": event.channel,
        "identifiers": [{"type": i.type.value, "value": i.value} for i in event.identifiers],
        "amount": event.amount,
        "currency": event.currency,
        "attributes": event.attributes,
        "change": None if event.change is None else event.change.model_dump(),
        "profile_id": profile_id,
        # Where the event first landed, never re-pointed: a split sends it back to that profile's side,
        # and the lake resolves the same field through merge redirects, so both stores agree.
        "placed_on": profile_id,
        "ingested_at": now,
    }


STATEMENTS_PER_COMMAND = 1_000
TRANSACTION_ATTEMPTS = 5
# A transaction's dirty pages stay in WiredTiger's cache until it commits. 2,000 events of the 20k-person
# bench world left 129 MB dirty in a 0.5 GB cache, past its 20% dirty trigger: every thread then had to
# evict, none could, and mongod 6.0.5 hung in the update for good, deaf to the transaction reaper
# (docs/BENCHMARKS.md). Fewer events touch fewer profiles; 500 is a quarter of the batch that hung.
TRANSACTION_EVENTS = 500
TRANSIENT = "TransientTransactionError"  # aborted as a whole: the same writes may succeed later
UNKNOWN_COMMIT = "UnknownTransactionCommitResult"
RACES = {11000, 112}  # DuplicateKey, WriteConflict


def retryable(exc: PyMongoError) -> bool:
    """Aborted as a whole, or lost a race: a bulk insert inside a transaction reports a concurrent writer's
    insert of the same key (two webhook bodies naming one new customer at once) as a write error of its
    own, without the TransientTransactionError label. Re-run, the transaction sees that key and does not
    insert it again."""
    if exc.has_error_label(TRANSIENT) or exc.has_error_label(UNKNOWN_COMMIT):
        return True
    if isinstance(exc, BulkWriteError):
        codes = {error.get("code") for error in exc.details.get("writeErrors", [])}
        return bool(codes) and codes <= RACES
    return False


def update_statements(
    collection: Collection, statements: list[dict[str, Any]], session: ClientSession
) -> int:
    """Raw `update` commands: pymongo's UpdateOne/UpdateMany objects re-validate every update document,
    which cost about a tenth of the writer's time on large batches. Returns how many documents changed."""
    modified = 0
    for start in range(0, len(statements), STATEMENTS_PER_COMMAND):
        chunk = statements[start : start + STATEMENTS_PER_COMMAND]
        reply = collection.database.command(
            {"update": collection.name, "updates": chunk, "ordered": False}, session=session
        )
        if reply.get("writeErrors") or reply.get("writeConcernError"):
            raise BulkWriteError(reply)
        modified += reply.get("nModified", 0)
    return modified


def run_writes(db: Database, writes: list[Write], session: ClientSession) -> list[int]:
    """Planned writes (identity/graph_writes.py), in order, in the session's transaction: how many
    documents each changed (inserts: how many were inserted)."""
    counts = []
    for collection, kind, docs in writes:
        if kind == "update":
            counts.append(update_statements(db[collection], docs, session))
        else:
            counts.append(len(db[collection].insert_many(docs, session=session).inserted_ids))
    return counts


class ProfileWriter:
    def __init__(
        self,
        store: Store,
        clock: Clock = lambda: datetime.now(UTC),
        rules: IdentityRules | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._rules = rules or IdentityRules.from_settings()

    def apply(self, events: Sequence[CanonicalEvent]) -> ApplyResult:
        """In transactions of at most TRANSACTION_EVENTS events, in order (profiles touched are counted
        per transaction). A caller that stops between two re-applies the batch: events are skipped by id."""
        unique = list({e.event_id: e for e in events}.values())
        applied = touched = merges = suppressed = 0
        with self._store.client.start_session() as session:
            for start in range(0, len(unique), TRANSACTION_EVENTS):
                result = self._transaction(unique[start : start + TRANSACTION_EVENTS], session)
                applied, touched, merges, suppressed = (
                    applied + result.applied,
                    touched + result.profiles_touched,
                    merges + result.merges,
                    suppressed + result.suppressed,
                )
        return ApplyResult(applied, len(events) - applied - suppressed, touched, merges, suppressed)

    def _transaction(self, events: list[CanonicalEvent], session: ClientSession) -> ApplyResult:
        """A few attempts, not pymongo's `with_transaction` (which retries for 120 s): a batch too large
        for MongoDB's cache aborts as a WriteConflict on every attempt, and the caller must learn that soon
        enough to write it in smaller parts. Re-running after an unknown commit result is safe: events
        already recorded are skipped by id."""
        for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
            try:
                with session.start_transaction(
                    read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
                ):
                    result = self._apply(events, session)
                return result
            except PyMongoError as exc:
                if not retryable(exc) or attempt == TRANSACTION_ATTEMPTS:
                    raise
                time.sleep(random.uniform(0, 0.05 * attempt))  # two writers on one profile: desynchronize
        raise AssertionError("unreachable")

    def _apply(self, events: list[CanonicalEvent], session: ClientSession) -> ApplyResult:
        store = self._store
        seen = {
            d["_id"]
            for d in store.events.find(
                {"_id": {"$in": [e.event_id for e in events]}}, {"_id": 1}, session=session
            )
        }
        fresh = [e for e in events if e.event_id not in seen]
        if not fresh:
            return ApplyResult(0, 0, 0, 0)
        keys = list({i.key for e in fresh for i in e.identifiers})
        edges = {d["_id"]: d for d in store.identities.find({"_id": {"$in": keys}}, session=session)}
        fresh, suppressed = self._unerased(fresh, [k for k in keys if k not in edges], session)
        if not fresh:
            return ApplyResult(0, 0, 0, 0, suppressed)
        if suppressed:  # the graph of the events that stay
            edges = {k: edges[k] for k in {i.key for e in fresh for i in e.identifiers} if k in edges}
        graph = self._graph(edges, session)
        # Deletes and truncates of CDC rows name no customer: they change rows, not identities.
        components = group([e for e in fresh if e.identifiers], graph, self._rules)
        contested = [pid for c in components if len(c.profiles) > 1 for pid in c.profiles]
        stored = (
            {d["_id"]: d for d in store.profiles.find({"_id": {"$in": contested}}, session=session)}
            if contested
            else {}
        )
        capped = [pid for c in components if self._capped(c) for pid in c.profiles]
        graph = replace(graph, held=self._held(capped, session))
        first_seen = {pid: doc.get("first_seen") for pid, doc in stored.items()}
        placements = [place(c, graph, first_seen, self._rules) for c in components]
        now = self._clock()
        run_writes(
            store.db,
            merge_writes(placements, first_seen, now)
            + move_writes(placements, now)
            + sighting_writes(placements, edges, self._rules),
            session,
        )
        # Deletes and truncates belong to no profile until their rows say whose they were.
        unplaced = [event_document(e, None, now) for e in fresh if not e.identifiers]
        self._write(placements, stored, now, unplaced, session)
        self._write_rows(fresh, placements, now, session)
        merges = sum(len(p.merged) for p in placements)
        return ApplyResult(len(fresh), 0, len(placements), merges, suppressed)

    def _unerased(
        self, events: list[CanonicalEvent], new_keys: list[str], session: ClientSession
    ) -> tuple[list[CanonicalEvent], int]:
        """The events that carry no erased person's key, and how many did. Only keys without an edge need
        asking: an erasure deletes the edge of every key it suppresses, and no edge comes back for one.
        Read in this transaction, so an event racing an erasure lands before it (and is erased with the
        rest) or is dropped after it; a write to the erased profile in between conflicts and is retried."""
        erased = suppressed_keys(self._store.db, new_keys, session)
        kept = [e for e in events if erased.isdisjoint(i.key for i in e.identifiers)]
        return kept, len(events) - len(kept)

    def _graph(self, edges: dict[str, dict[str, Any]], session: ClientSession) -> Graph:
        """Owners of the batch's keys, attach keys past their cap, and which owners are identified."""
        known = {key: doc["profile_id"] for key, doc in edges.items()}
        saturated = frozenset(key for key, doc in edges.items() if doc.get("saturated"))
        owners = list({pid for key, pid in known.items() if not self._rules.merges_key(key)})
        identified = (
            {d["_id"] for d in self._store.profiles.find(
                {"_id": {"$in": owners}, "$or": [{"identified": True}, {"ambiguous": True}]}, {"_id": 1},
                session=session)}
            if owners
            else set()
        )  # fmt: skip
        return Graph(known, saturated, frozenset(identified))

    def _capped(self, component: Component) -> bool:
        return len(component.profiles) > 1 or (
            bool(component.profiles) and any(self._rules.capped(k) for k in component.keys)
        )

    def _held(self, profile_ids: list[str], session: ClientSession) -> dict[str, frozenset[str]]:
        """The capped keys (customer ids) each profile owns now."""
        if not profile_ids:
            return {}
        held: dict[str, set[str]] = {}
        query = {"profile_id": {"$in": profile_ids}, "type": {"$in": list(self._rules.max_per_profile)}}
        for doc in self._store.identities.find(query, {"profile_id": 1}, session=session):
            held.setdefault(doc["profile_id"], set()).add(doc["_id"])
        return {pid: frozenset(keys) for pid, keys in held.items()}

    def _write(
        self,
        placements: list[Placement],
        stored: dict[str, dict[str, Any]],
        now: datetime,
        event_docs: list[dict[str, Any]],
        session: ClientSession,
    ) -> None:
        store = self._store
        identity_docs = new_edges(placements, now, self._rules)
        updates = []
        for p in placements:
            delta = ProfileDelta()
            for event in p.component.events:
                delta.add_event(event)
                event_docs.append(event_document(event, p.profile_id, now))
            for loser in p.merged:
                delta.add_profile(stored[loser])
            update = delta.to_update(now)
            if p.component.strong:
                update["$set"]["identified"] = True
            elif p.ambiguous:
                update["$set"]["ambiguous"] = True
            updates.append(statement({"_id": p.profile_id}, update, upsert=True))
        if identity_docs:
            store.identities.insert_many(list(identity_docs.values()), ordered=False, session=session)
        updates += self._held_keys(placements, updates, identity_docs, now, session)
        store.events.insert_many(event_docs, ordered=False, session=session)
        if updates:
            update_statements(store.profiles, updates, session)

    def _held_keys(
        self,
        placements: list[Placement],
        updates: list[dict[str, Any]],
        identity_docs: dict[str, dict[str, Any]],
        now: datetime,
        session: ClientSession,
    ) -> list[dict[str, Any]]:
        """Each touched profile's keys copy, in its own update. New keys are added to it; a profile that
        merged, gained a key by a move or lost one is recomputed from its edges (after all of the batch's
        edge writes), and one that only lost a key gets one more statement."""
        sources = {source for p in placements for _, source in p.moved}
        held = held_keys(
            self._store.identities,
            {p.profile_id for p in placements if p.merged or p.moved} | sources,
            session,
        )
        for p, planned in zip(placements, updates, strict=True):
            if p.profile_id in held:
                planned["u"]["$set"][KEYS] = held.pop(p.profile_id)
            elif new := [k for k in p.new_keys if identity_docs[k]["profile_id"] == p.profile_id]:
                planned["u"].setdefault("$addToSet", {})[KEYS] = {"$each": new}
        # A source merged away in this batch is a redirect by now, and a redirect holds no keys.
        return [
            statement(
                {"_id": pid, "merged_into": {"$exists": False}},
                {"$set": {KEYS: keys, "updated_at": now}, "$inc": {"version": 1}},
            )
            for pid, keys in held.items()
        ]

    def _write_rows(
        self,
        fresh: list[CanonicalEvent],
        placements: list[Placement],
        now: datetime,
        session: ClientSession,
    ) -> None:
        """Keep the latest state of each CDC row and recompute the CDC part of the profiles it touches."""
        merged = {p.profile_id for p in placements if p.merged}
        profile_of = {e.event_id: p.profile_id for p in placements for e in p.component.events}
        changes = [(e.change, profile_of.get(e.event_id)) for e in fresh if e.change is not None]
        if not changes and not merged:
            return
        rows = self._store.cdc_rows
        ids = [row_id(c.table, c.key) for c, _ in changes if c.key is not None]
        tables = {c.table for c, _ in changes}
        stored = {d["_id"]: d for d in rows.find({"_id": {"$in": ids}}, session=session)}
        markers = {
            d["table"]: d["position"]
            for d in rows.find({"_id": {"$in": [marker_id(t) for t in tables]}}, session=session)
        }
        plan = plan_rows(changes, stored, markers)
        touched = plan.touched | merged
        for table, position in plan.truncates:
            query: dict[str, Any] = {"table": table, "deleted": False}
            if position is not None:
                query["position"] = {"$lte": position}
            touched.update(pid for pid in rows.distinct("profile_id", query, session=session) if pid)
            cleared = {"$set": {"deleted": True, "profile_id": None, "row": {}}}
            rows.update_many(query, cleared, session=session)
        writes = [ReplaceOne({"_id": doc["_id"]}, doc, upsert=True) for doc in plan.rows.values()]
        writes += [
            ReplaceOne({"_id": marker_id(table)}, {"table": table, "position": position}, upsert=True)
            for table, position in plan.markers.items()
        ]
        if writes:
            rows.bulk_write(writes, ordered=False, session=session)
        self._recompute(touched, now, session)

    def _recompute(self, profile_ids: set[str], now: datetime, session: ClientSession) -> None:
        """Every write to a profile is a new version: the lakehouse keeps each version exactly once."""
        if not profile_ids:
            return
        live: dict[str, list[dict[str, Any]]] = {pid: [] for pid in profile_ids}
        query = {"profile_id": {"$in": sorted(profile_ids)}, "deleted": False}
        for doc in self._store.cdc_rows.find(query, session=session):
            live[doc["profile_id"]].append(doc)
        bump = {"version": 1}
        updates = [
            statement({"_id": p}, {"$set": {"cdc": cdc_profile(docs), "updated_at": now}, "$inc": bump})
            for p, docs in live.items()
        ]
        update_statements(self._store.profiles, updates, session)
