"""Set the profiles' `identity_keys` copy from the edges, for data written before the copy existed.

Such a profile still resolves (a reader that finds no profile holding a key asks the edge), but in two
commands instead of one. The writer adds a new key to a profile's copy, so a profile written before the
copy existed and changed since holds only the keys added since: this fills in the rest.

Beside a running writer it takes no transaction: a transaction over a chunk of profiles holds them all
until it commits, and the writer's transactions touching any of them abort (a test saw the writer give up
after its five attempts). Instead each profile is read, then its edges, and the copy is written only if
the profile's `version` is still the one read: every change to a profile's edges also bumps its version,
so a profile that changed in between is read again and recomputed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateOne

from operational.held_keys import FIELD, held_keys
from operational.store import Store

CHUNK = 200  # profiles read, and written in one unordered bulk, at a time

LIVE = {"merged_into": {"$exists": False}}


def backfill(store: Store, on_chunk: Callable[[int], None] | None = None) -> int:
    """Set every live profile's copy from its edges where it differs; returns how many profiles changed.
    Each change is a new version, as any other change to a profile. `on_chunk` gets the number of
    profiles each chunk looked at."""
    changed, after = 0, ""
    while True:
        query = {"_id": {"$gt": after}, **LIVE}
        docs = list(store.profiles.find(query, {FIELD: 1, "version": 1}).sort("_id", 1).limit(CHUNK))
        if not docs:
            return changed
        changed += _set_copies(store, docs)
        after = docs[-1]["_id"]
        if on_chunk is not None:
            on_chunk(len(docs))


def _set_copies(store: Store, docs: list[dict[str, Any]]) -> int:
    """Write the copies that differ from the edges, each only over the version it was computed from;
    the profiles that moved on meanwhile are read and tried again."""
    changed = 0
    while docs:
        held = held_keys(store.identities, [d["_id"] for d in docs], None)
        stale = [d for d in docs if d.get(FIELD) is None or sorted(d[FIELD]) != held[d["_id"]]]
        if not stale:
            break
        now = datetime.now(UTC)
        updates = [
            UpdateOne(
                {"_id": d["_id"], "version": d["version"], **LIVE},
                {"$set": {FIELD: held[d["_id"]], "updated_at": now}, "$inc": {"version": 1}},
            )
            for d in stale
        ]
        written = store.profiles.bulk_write(updates, ordered=False).modified_count
        changed += written
        if written == len(updates):
            break
        query = {"_id": {"$in": [d["_id"] for d in stale]}, **LIVE}
        docs = list(store.profiles.find(query, {FIELD: 1, "version": 1}))
    return changed
