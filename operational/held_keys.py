"""Each live profile's `identity_keys`: the identity keys whose edge in `identities` points at it.

A copy kept on the profile so that a lookup by identifier is one indexed `find` on `profiles` instead of
an `identities` read joined to `profiles` (a `$lookup` costs mongod twice a get's CPU, which at 1,000
lookups/s is a tenth of this 2-core machine; docs/BENCHMARKS.md). The edge stays the authority, and the
copy is written in the same transaction as the edges. The key of a new edge is added to its profile's
copy; a profile whose edges merged, moved or split has its copy recomputed from its edges. A reader that
finds no profile holding a key asks the edge, so data written before the copy existed still resolves,
in two commands instead of one until `c360 backfill-keys` has set its copy
(operational/backfill_keys.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo.client_session import ClientSession
from pymongo.collection import Collection

from identity.graph_writes import HELD_KEYS

FIELD = HELD_KEYS


def held_keys(
    identities: Collection, profile_ids: Iterable[str], session: ClientSession | None
) -> dict[str, list[str]]:
    """The keys each of `profile_ids` holds, sorted, as the session's transaction sees them (without one,
    as they are now); an empty list for a profile that holds none, so that its copy is cleared too."""
    held: dict[str, list[str]] = {pid: [] for pid in profile_ids}
    if held:
        query: dict[str, Any] = {"profile_id": {"$in": list(held)}}
        for edge in identities.find(query, {"profile_id": 1}, session=session):
            held[edge["profile_id"]].append(edge["_id"])
    return {pid: sorted(keys) for pid, keys in held.items()}
