"""The identity keys of erased people, kept as hashes so that their data cannot come back.

An erasure (operational/erasure.py) deletes everything c360 holds about a person, but the sources keep
sending: Kafka topics are replayed, a consumer group is reset, a CDC connector re-snapshots, a webhook
retries. The writer drops every event that carries one of these keys, inside its own transaction, so an
event racing the erasure either lands before it (and is erased with the rest) or is dropped after it.

erased_keys  {_id: SHA-256 of the identity key, erasure: erasure id, at}

The hash is a pseudonym, not anonymisation (a phone number's hash can be found by trying them all);
it keeps the key out of plain sight in backups and logs while still matching it.
"""

from __future__ import annotations

from collections.abc import Iterable

from pymongo.client_session import ClientSession
from pymongo.database import Database

from identity.graph_writes import key_hash

COLLECTION = "erased_keys"


def suppressed_keys(db: Database, keys: Iterable[str], session: ClientSession | None) -> set[str]:
    """Those of `keys` that belong to an erased person, as the session's transaction sees them."""
    by_hash = {key_hash(k): k for k in keys}
    if not by_hash:
        return set()
    found = db[COLLECTION].find({"_id": {"$in": list(by_hash)}}, {"_id": 1}, session=session)
    return {by_hash[d["_id"]] for d in found}
