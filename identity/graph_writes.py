"""The writes a batch makes to the identity graph, planned without a server.

The writer (operational/writer.py) reads what a batch needs (known edges, the profiles it merges),
stitches it (identity/stitching.py), then runs the statements planned here in the same transaction:
merges (everything of a merged profile re-pointed at its survivor, a redirect left behind, lineage kept
in `identity_events`), moves (a contested key changing owner instead of merging two people), sightings
(a known cookie or device seen on one more profile) and the batch's new edges. A statement is an entry
of MongoDB's `update` command (`{q, u, upsert, multi}`), as pure data, so every plan is unit-tested.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from identity.rules import IdentityRules
from identity.stitching import Placement

MAX_CARRIERS = 20
# The copy of its edges each profile carries, for one-command lookups (operational/held_keys.py).
HELD_KEYS = "identity_keys"
Kind = Literal["update", "insert"]
# (collection, "update" with statements | "insert" with documents), run in order.
Write = tuple[str, Kind, list[dict[str, Any]]]


def key_hash(key: str) -> str:
    """An identity key's SHA-256: a pseudonym that matches the key without showing it."""
    return hashlib.sha256(key.encode()).hexdigest()


def statement(
    query: dict[str, Any], update: dict[str, Any], *, upsert: bool = False, multi: bool = False
) -> dict[str, Any]:
    return {"q": query, "u": update, "upsert": upsert, "multi": multi}


def merge_writes(placements: list[Placement], first_seen: Mapping[str, Any], now: datetime) -> list[Write]:
    """Re-point everything of each merged profile at its survivor and leave a redirect behind.
    `first_seen`: each merged profile's, as stored, for the lineage record."""
    merges = [(p, loser) for p in placements for loser in p.merged]
    if not merges:
        return []
    merging = [p for p in placements if p.merged]
    retarget = [
        statement({"profile_id": {"$in": list(p.merged)}}, {"$set": {"profile_id": p.profile_id}}, multi=True)
        for p in merging
    ]
    shared = [
        statement(
            {"profiles": {"$in": list(p.merged)}}, {"$addToSet": {"profiles": p.profile_id}}, multi=True
        )
        for p in merging
    ] + [
        statement(
            {"profiles": {"$in": list(p.merged)}}, {"$pullAll": {"profiles": list(p.merged)}}, multi=True
        )
        for p in merging
    ]
    redirects = [
        statement(
            {"merged_into": {"$in": list(p.merged)}}, {"$set": {"merged_into": p.profile_id}}, multi=True
        )
        for p in merging
    ]
    redirects += [
        statement({"_id": loser}, {"merged_into": p.profile_id, "merged_at": now}) for p, loser in merges
    ]
    lineage = [
        {
            "_id": f"merge:{loser}:{p.profile_id}:{now.isoformat()}",  # a split may undo it
            "kind": "merge",
            "survivor": p.profile_id,
            "merged": loser,
            "merged_first_seen": first_seen.get(loser),
            "evidence": p.component.evidence,
            "at": now,
        }
        for p, loser in merges
    ]
    return [
        ("identities", "update", retarget),
        ("identities", "update", shared),
        ("events", "update", retarget),
        ("cdc_rows", "update", retarget),
        ("profiles", "update", redirects),
        ("identity_events", "insert", lineage),
    ]


def move_writes(placements: list[Placement], now: datetime) -> list[Write]:
    """A contested key (a reassigned phone) moves to its new owner instead of merging two people."""
    moves = [(p, key, source) for p in placements for key, source in p.moved]
    if not moves:
        return []
    statements = [
        statement({"_id": key}, {"$set": {"profile_id": p.profile_id, "origin": p.profile_id}})
        for p, key, _ in moves
    ]
    docs = []
    for p, key, source in moves:
        carriers = [e.event_id for e in p.component.events if key in {i.key for i in e.identifiers}]
        docs.append(
            {
                # The key's hash, not the key: ids travel into the lake's log and resume tokens,
                # which an erasure cannot rewrite (docs/LAKEHOUSE.md).
                "_id": f"move:{key_hash(key)[:24]}:{source}:{p.profile_id}:{carriers[0]}",
                "kind": "move",
                "survivor": p.profile_id,
                "from": source,
                "key": key,
                "evidence": [{"rule": "cap refused the merge", "event_ids": carriers[:MAX_CARRIERS]}],
                "at": now,
            }
        )
    return [("identities", "update", statements), ("identity_events", "insert", docs)]


def sighting_writes(
    placements: list[Placement], edges: Mapping[str, Mapping[str, Any]], rules: IdentityRules
) -> list[Write]:
    """A known cookie or device seen on one more profile; past the cap it stops being evidence."""
    statements = []
    for p in placements:
        for key in p.attached:
            profiles = set(edges[key].get("profiles", ())) | {p.profile_id}
            saturated = len(profiles) > rules.attach_max_profiles
            update = {"$addToSet": {"profiles": p.profile_id}, "$set": {"saturated": saturated}}
            statements.append(statement({"_id": key}, update))
    return [("identities", "update", statements)] if statements else []


def new_edges(placements: list[Placement], now: datetime, rules: IdentityRules) -> dict[str, dict[str, Any]]:
    """The `identities` documents of the batch's new keys. `origin` is the profile the key was first seen
    on: a split gives the key back to its side. A new cookie or role mailbox two people used in one batch
    is one document listing both; a contested new merge key goes to the latest placement."""
    docs: dict[str, dict[str, Any]] = {}
    for p in placements:
        for key in p.new_keys:
            if key in docs and "profiles" not in docs[key]:
                docs[key] |= {"profile_id": p.profile_id, "origin": p.profile_id}
            elif key in docs:
                profiles = docs[key]["profiles"]
                profiles.append(p.profile_id)
                docs[key]["saturated"] = len(profiles) > rules.attach_max_profiles
            else:
                doc = {
                    "_id": key,
                    "profile_id": p.profile_id,
                    "type": key.split(":", 1)[0],
                    "origin": p.profile_id,
                }
                if not rules.merges_key(key):
                    doc["profiles"] = [p.profile_id]
                docs[key] = doc | {"created_at": now}
    return docs


def edit_record(kind: str, survivor: str, merged: str, evidence: dict[str, Any], now: datetime) -> Write:
    """The lineage document of a manual merge or split, with the caller's evidence."""
    doc = {
        "_id": f"{kind}:{merged}:{survivor}:{now.isoformat()}",
        "kind": kind,
        "survivor": survivor,
        "merged": merged,
        "evidence": [evidence],
        "at": now,
    }
    return ("identity_events", "insert", [doc])


def manual_merge_writes(
    survivor: str, merged: str, side: list[str], evidence: dict[str, Any], now: datetime
) -> list[Write]:
    """Fold `merged` (and `side`: it with the profiles already redirected to it) into `survivor`: its CDC
    rows, events (second write) and edges (third) re-pointed, the side redirected holding no keys."""
    repoint = [statement({"profile_id": merged}, {"$set": {"profile_id": survivor}}, multi=True)]
    redirect = {"$set": {"merged_into": survivor, "merged_at": now}, "$unset": {HELD_KEYS: ""}}
    return [
        ("cdc_rows", "update", repoint),
        ("events", "update", repoint),
        ("identities", "update", repoint),
        ("profiles", "update", [statement({"_id": {"$in": sorted(side)}}, redirect, multi=True)]),
        edit_record("merge", survivor, merged, evidence, now),
    ]


def split_writes(
    survivor: str, merged: str, side: list[str], evidence: dict[str, Any], now: datetime
) -> list[Write]:
    """Give `merged` back everything of its `side` (it and the profiles folded into it): the events first
    placed there (first write) and the edges first seen there (second); the rest of the side redirects
    to `merged` again."""
    others = [pid for pid in side if pid != merged]
    back = {"$set": {"profile_id": merged}}
    redirect = {"$set": {"merged_into": merged, "merged_at": now}}
    return [
        (
            "events",
            "update",
            [statement({"profile_id": survivor, "placed_on": {"$in": side}}, back, multi=True)],
        ),
        (
            "identities",
            "update",
            [statement({"profile_id": survivor, "origin": {"$in": side}}, back, multi=True)],
        ),
        ("profiles", "update", [statement({"_id": {"$in": others}}, redirect, multi=True)]),
        edit_record("split", survivor, merged, evidence, now),
    ]
