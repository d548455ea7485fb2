"""Segment membership written back to MongoDB profiles (`segments`: sorted names), so that the API shows
it. Only profiles whose membership changed are written; each such write is a new profile version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
from pymongo import UpdateOne

from lakehouse.segments import Segment, memberships_sql
from operational.store import Store

CHUNK = 1_000


@dataclass(frozen=True)
class WritebackResult:
    profiles_in_segments: int
    profiles_updated: int


def write_memberships(
    con: duckdb.DuckDBPyConnection, segments: list[Segment], store: Store
) -> WritebackResult:
    wanted = {pid: list(names) for pid, names in con.sql(memberships_sql(segments)).fetchall()}
    now = datetime.now(UTC)
    updates = [
        UpdateOne(
            {"_id": doc["_id"], "merged_into": {"$exists": False}},
            {"$set": {"segments": wanted.get(doc["_id"], []), "updated_at": now}, "$inc": {"version": 1}},
        )
        for doc in store.profiles.find({"merged_into": {"$exists": False}}, {"segments": 1})
        if doc.get("segments", []) != wanted.get(doc["_id"], [])
    ]
    for start in range(0, len(updates), CHUNK):
        store.profiles.bulk_write(updates[start : start + CHUNK], ordered=False)
    return WritebackResult(len(wanted), len(updates))
