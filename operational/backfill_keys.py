"""Set the profiles' `identity_keys` copy from the edges, for data written before the copy existed.

Such a profile still resolves (a reader that finds no profile holding a key asks the edge), but in two
commands instead of one. The writer adds a new key to a profile's copy, so a profile written before the
copy existed and changed since holds only the keys added since: this fills in the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pymongo import UpdateOne
from pymongo.client_session import ClientSession

from operational.held_keys import FIELD, held_keys
from operational.store import Store

CHUNK = 200  # profiles per transaction: small, as the writer's, to stay clear of cache pressure


def backfill(store: Store, on_chunk: Callable[[int], None] | None = None) -> int:
    """Set every live profile's copy from its edges where it differs (profiles written before the copy
    existed, or given only the keys added since); returns how many profiles changed. Each change is a new
    version, as any other change to a profile. Safe while ingest runs: a chunk reads its edges and writes
    its profiles in one transaction, and every edge change writes the profile it names, so a concurrent
    change conflicts with the chunk inside MongoDB and one of them is retried. `on_chunk` gets the
    number of profiles each chunk looked at."""
    changed, after = 0, ""
    with store.client.start_session() as session:
        while True:
            query = {"_id": {"$gt": after}, "merged_into": {"$exists": False}}
            ids = [d["_id"] for d in store.profiles.find(query, {"_id": 1}).sort("_id", 1).limit(CHUNK)]
            if not ids:
                return changed
            changed += session.with_transaction(lambda s, ids=ids: _set_copies(store, ids, s))
            after = ids[-1]
            if on_chunk is not None:
                on_chunk(len(ids))


def _set_copies(store: Store, profile_ids: list[str], session: ClientSession) -> int:
    live = {"_id": {"$in": profile_ids}, "merged_into": {"$exists": False}}
    copies = {d["_id"]: d.get(FIELD) for d in store.profiles.find(live, {FIELD: 1}, session=session)}
    now = datetime.now(UTC)
    updates = [
        UpdateOne(
            {"_id": pid, "merged_into": {"$exists": False}},
            {"$set": {FIELD: keys, "updated_at": now}, "$inc": {"version": 1}},
        )
        for pid, keys in held_keys(store.identities, copies, session).items()
        if copies[pid] is None or sorted(copies[pid]) != keys
    ]
    if updates:
        store.profiles.bulk_write(updates, ordered=False, session=session)
    return len(updates)
