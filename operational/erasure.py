"""Erasing a person (a data subject's right to erasure): every document c360 holds about them in
MongoDB goes, and their data cannot come back.

A person is a live profile and the profiles merged into it (their redirects point straight at it).
One transaction detaches them: the profile documents, the identity edges only they held and their
identity events (merges, splits, and moves of a key to or from them) and review items go, and the keys
only they held are kept as hashes (suppression.py), so the writer drops their events from then on:
Kafka replays, a re-snapshot, a retried webhook. A cookie or device that other people share stays in
the graph without them, and its ownership passes to another of its profiles. Their events, CDC rows
and probabilistic match records then go in chunks; an erasure a stopped process left pending is
finished by the next `erase`. Identifiers are personal data, so the erasure record keeps profile ids
and counts, never the keys themselves.

The lake follows: the sync sees the deleted documents in its change streams and deletes their rows from
the Delta tables, and `c360 sync vacuum` removes the files that still hold them (docs/LAKEHOUSE.md).
What c360 cannot erase is the sources' own copy: Kafka keeps the records until its retention expires
(suppressed when read), and a source system that still holds the person must erase them itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.client_session import ClientSession
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from identity.rules import IdentityRules
from operational.held_keys import FIELD as KEYS
from operational.reads import MAX_REDIRECTS
from operational.store import Store
from operational.suppression import COLLECTION as ERASED_KEYS
from operational.suppression import key_hash

ERASURES = "erasures"  # one record per erasure; the lake sync reads it after lost stream history
SWEPT = ("events", "cdc_rows", "match_records")  # deleted after the transaction, in chunks
SWEEP_CHUNK = 1_000


class PersonNotFound(LookupError):
    """No profile by that id (never existed, or erased already)."""


@dataclass(frozen=True)
class Erasure:
    erasure_id: str
    profile_id: str  # the live profile erased
    profiles: list[str]  # it and every profile merged into it
    keys_suppressed: int  # identity keys only this person held: their events are dropped from now on
    keys_released: int  # shared keys (cookies, devices) that stay with the other people who used them
    deleted: dict[str, int] = field(default_factory=dict)  # documents deleted, per collection


class Eraser:
    def __init__(self, store: Store, rules: IdentityRules | None = None) -> None:
        self._store = store
        self._rules = rules or IdentityRules.from_settings()

    def erase(
        self, profile_id: str, requested_by: str, reason: str, on_behalf_of: str | None = None
    ) -> Erasure:
        """Erase the person `profile_id` belongs to (an id merged away names its survivor's person).
        `requested_by` is who asked (the API key's name, the OS user of `c360 erase`), `on_behalf_of` the
        person they said they acted for. Erasures a stopped process left half done are finished first."""
        self.finish_pending()
        audit = {"requested_by": requested_by, "on_behalf_of": on_behalf_of, "reason": reason}
        with self._store.client.start_session() as session:
            record = session.with_transaction(
                lambda s: self._detach(profile_id, audit, s),
                read_concern=ReadConcern("snapshot"),
                write_concern=WriteConcern("majority"),
            )
        return self._sweep(record)

    def finish_pending(self) -> list[Erasure]:
        return [self._sweep(record) for record in self._store.db[ERASURES].find({"pending": True})]

    def _detach(
        self, profile_id: str, audit: dict[str, str | None], session: ClientSession
    ) -> dict[str, Any]:
        """The transaction: the person's profiles, identity edges and history go and their keys are
        suppressed, so nothing can attach to them any more; the erasure is recorded as pending."""
        store, db = self._store, self._store.db
        live = self._live_id(profile_id, session)
        family = [live] + [
            d["_id"] for d in store.profiles.find({"merged_into": live}, {"_id": 1}, session=session)
        ]
        mine = {"$in": family}
        edges = list(
            store.identities.find({"$or": [{"profile_id": mine}, {"profiles": mine}]}, session=session)
        )
        heirs = self._heirs(edges, set(family), session)
        owned = [e["_id"] for e in edges if heirs[e["_id"]] is None]
        shared = [e for e in edges if heirs[e["_id"]] is not None]
        now = datetime.now(UTC)
        erasure_id = f"erasure:{ObjectId()}"  # opaque: erased_keys name it, and must not name the person
        where = {
            "profiles": {"_id": mine},
            "identities": {"_id": {"$in": owned}},
            "identity_events": {"$or": [{"survivor": mine}, {"merged": mine}, {"from": mine}]},
            "review_items": {"$or": [{"profile_id": mine}, {"candidate_profile": mine}]},
        }
        deleted = {name: db[name].delete_many(q, session=session).deleted_count for name, q in where.items()}
        self._release(shared, heirs, family, session)
        if owned:
            db[ERASED_KEYS].bulk_write(
                [
                    UpdateOne({"_id": key_hash(k)}, {"$set": {"erasure": erasure_id, "at": now}}, upsert=True)
                    for k in owned
                ],
                ordered=False,
                session=session,
            )
        erasure = Erasure(
            erasure_id, live, family, len(owned), len(shared), deleted | dict.fromkeys(SWEPT, 0)
        )
        record = {"_id": erasure_id} | asdict(erasure) | audit
        record |= {"at": now, "pending": True}
        del record["erasure_id"]
        db[ERASURES].insert_one(record, session=session)
        return record

    def _sweep(self, record: dict[str, Any]) -> Erasure:
        """The person's events and CDC rows, chunk by chunk: a heavy customer's would not fit in one
        transaction (the writer caps its own for the same cache, operational/writer.py), and with the
        person detached no new ones can appear. A match record's id is its event's, so records and
        review items go with their events even where a split left them naming another profile."""
        db, mine = self._store.db, {"$in": record["profiles"]}
        deleted = dict(record["deleted"])
        for name in ("events", "cdc_rows"):
            while ids := [
                d["_id"] for d in db[name].find({"profile_id": mine}, {"_id": 1}, limit=SWEEP_CHUNK)
            ]:
                if name == "events":
                    deleted["match_records"] += (
                        db["match_records"].delete_many({"_id": {"$in": ids}}).deleted_count
                    )
                    reviews = [f"review:{i}" for i in ids]  # operational/reviews.py names them so
                    about = {"$or": [{"_id": {"$in": reviews}}, {"candidate_record": {"$in": ids}}]}
                    deleted["review_items"] += db["review_items"].delete_many(about).deleted_count
                deleted[name] += db[name].delete_many({"_id": {"$in": ids}}).deleted_count
        deleted["match_records"] += db["match_records"].delete_many({"profile_id": mine}).deleted_count
        done = {"$set": {"deleted": deleted}, "$unset": {"pending": ""}}
        db[ERASURES].update_one({"_id": record["_id"]}, done)
        fields = ("profile_id", "profiles", "keys_suppressed", "keys_released")
        return Erasure(record["_id"], *(record[f] for f in fields), deleted=deleted)

    def _live_id(self, profile_id: str, session: ClientSession) -> str:
        current = profile_id
        for _ in range(MAX_REDIRECTS):
            doc = self._store.profiles.find_one({"_id": current}, {"merged_into": 1}, session=session)
            if doc is None:
                raise PersonNotFound(f"profile {profile_id} not found")
            if "merged_into" not in doc:
                return current
            current = doc["merged_into"]
        raise PersonNotFound(f"profile {profile_id} redirects more than {MAX_REDIRECTS} times")

    def _heirs(
        self, edges: list[dict[str, Any]], family: set[str], session: ClientSession
    ) -> dict[str, str | None]:
        """Who holds each edge once the person is gone: its owner if that is someone else, else the live
        profile of the next one that used it (a cookie's list may name profiles merged away since);
        None when nobody else used it."""
        others = sorted({p for e in edges for p in e.get("profiles", ()) if p not in family})
        found = self._store.profiles.find({"_id": {"$in": others}}, {"merged_into": 1}, session=session)
        live = {d["_id"]: d.get("merged_into", d["_id"]) for d in found}
        heirs: dict[str, str | None] = {}
        for edge in edges:
            users = [edge["profile_id"], *edge.get("profiles", ())]
            owner = edge["profile_id"] if edge["profile_id"] not in family else None
            heirs[edge["_id"]] = owner or next((live[p] for p in users if p in live), None)
        return heirs

    def _release(
        self,
        shared: list[dict[str, Any]],
        heirs: dict[str, str | None],
        family: list[str],
        session: ClientSession,
    ) -> None:
        """A key other people used too stays theirs: the person leaves its list, and a key the person
        owned passes to its heir (listed, and in the heir's copy of its keys). With fewer users listed
        it may count as evidence again."""
        for edge in shared:
            heir = heirs[edge["_id"]]
            users = [p for p in edge.get("profiles", ()) if p not in family]
            users += [] if heir in users else [heir]
            saturated = len(users) > self._rules.attach_max_profiles
            update: dict[str, Any] = {"$set": {"profiles": users, "saturated": saturated}}
            if heir != edge["profile_id"]:
                update["$set"] |= {"profile_id": heir, "origin": heir}
                self._store.profiles.update_one(
                    {"_id": heir}, {"$addToSet": {KEYS: edge["_id"]}, "$inc": {"version": 1}}, session=session
                )
            self._store.identities.update_one({"_id": edge["_id"]}, update, session=session)
