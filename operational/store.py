"""The operational store's collections and indexes, in one place so every reader and writer agrees.

profiles          one document per profile; merged-away profiles stay as `{_id, merged_into}` redirects
identities        `_id` = identity key ("email:ann@x.com"), the identity graph's edges to a profile
events            canonical events by `_id` = event id: the idempotence record and the recent timeline
identity_events   merges (and later splits) with their evidence
cdc_rows          the latest state of every captured source row (see profiles/row_state.py)
ingest_workers    one heartbeat document per running consumer, for readiness and lag
erasures          one record per erased person: when, by whom, why, and what was deleted
erased_keys       hashes of erased people's identity keys, whose events are dropped (suppression.py)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bson.codec_options import CodecOptions, TypeCodec, TypeRegistry
from bson.decimal128 import Decimal128
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import CollectionInvalid, OperationFailure

from operational.held_keys import FIELD as KEYS
from profiles.money import decimal_of

NAMESPACE_EXISTS = 48
UNAUTHORIZED = 13
COLLECTIONS = (
    "profiles",
    "identities",
    "events",
    "identity_events",
    "cdc_rows",
    "ingest_workers",
    "erasures",
    "erased_keys",
)


class _DecimalCodec(TypeCodec):
    """Money round-trips exactly: Python Decimal <-> BSON Decimal128, never float."""

    python_type = Decimal
    bson_type = Decimal128

    def transform_python(self, value: Decimal) -> Decimal128:
        return Decimal128(value)

    def transform_bson(self, value: Decimal128) -> Decimal:
        return decimal_of(value)


# Dates decode as UTC-aware with bson's own UTC tzinfo: asking for `datetime.UTC` instead makes the C
# decoder convert each one again (about 0.5 µs a date, and a profile read decodes ~80 of them).
CODEC_OPTIONS: CodecOptions[Any] = CodecOptions(tz_aware=True, type_registry=TypeRegistry([_DecimalCodec()]))


class StoreNotPrepared(RuntimeError):
    """The collections are missing and this user may not create them."""


@dataclass(frozen=True)
class Store:
    client: MongoClient
    db: Database
    uri: str | None = None  # where `client` connects (Store.open), for clients in other processes or loops

    @classmethod
    def connect(cls, client: MongoClient, database: str) -> Store:
        return cls(client, client.get_database(database, codec_options=CODEC_OPTIONS))

    @classmethod
    def open(cls, uri: str, database: str) -> Store:
        """A store with a client of its own; `close()` it when done."""
        client: MongoClient = MongoClient(uri, tz_aware=True, appname="c360")
        return cls(client, client.get_database(database, codec_options=CODEC_OPTIONS), uri)

    def close(self) -> None:
        self.client.close()

    @property
    def profiles(self) -> Collection:
        return self.db["profiles"]

    @property
    def identities(self) -> Collection:
        return self.db["identities"]

    @property
    def events(self) -> Collection:
        return self.db["events"]

    @property
    def identity_events(self) -> Collection:
        return self.db["identity_events"]

    @property
    def cdc_rows(self) -> Collection:
        return self.db["cdc_rows"]

    @property
    def ingest_workers(self) -> Collection:
        return self.db["ingest_workers"]

    def live_profiles(self, fields: Iterable[str]) -> Iterator[dict[str, Any]]:
        """Every profile that is not a merge redirect, with `fields` (and `_id`)."""
        return self.profiles.find({"merged_into": {"$exists": False}}, dict.fromkeys(fields, 1))

    def drop(self) -> None:
        """Drop the whole database (the demo starts over)."""
        self.client.drop_database(self.db.name)

    def prepare(self, *more_indexes: Callable[[], None]) -> None:
        """`ensure_indexes` (then `more_indexes`) when this MongoDB user may create them. A component's
        least-privilege user may not (operational/roles.py): it checks that the collections exist."""
        try:
            self.ensure_indexes()
            for ensure in more_indexes:
                ensure()
        except OperationFailure as exc:
            if exc.code != UNAUTHORIZED:
                raise
            missing = sorted(set(COLLECTIONS) - set(self.db.list_collection_names()))
            if missing:
                raise StoreNotPrepared(
                    f"{self.db.name} lacks the collections {', '.join(missing)}, and this MongoDB user may "
                    "not create them: run `c360 setup` as an administrator first"
                ) from None

    def ensure_indexes(self) -> None:
        """Idempotent and safe when several processes start at once on a fresh database; run before the
        first write so that transactions never create collections mid-flight."""
        for name in COLLECTIONS:
            try:
                self.db.create_collection(name)
            except CollectionInvalid:
                pass  # exists already
            except OperationFailure as exc:
                if exc.code != NAMESPACE_EXISTS:  # another process created it a moment ago
                    raise
        self.identities.create_index([("profile_id", ASCENDING)])
        # A merge re-points the shared keys (cookies, devices) listing the merged profile: without this
        # index each merge scanned every identity inside the batch's transaction.
        self.identities.create_index([("profiles", ASCENDING)], sparse=True)
        self.events.create_index([("profile_id", ASCENDING), ("occurred_at", DESCENDING)])
        self.profiles.create_index([("merged_into", ASCENDING)], sparse=True)
        self.profiles.create_index([(KEYS, ASCENDING)], sparse=True)  # lookups: operational/held_keys.py
        self.profiles.create_index([("search_names", ASCENDING)], sparse=True)
        self.profiles.create_index([("daily_from", ASCENDING)], sparse=True)  # operational/trim.py
        self.identity_events.create_index([("survivor", ASCENDING)])
        self.identity_events.create_index([("merged", ASCENDING)])
        self.identity_events.create_index([("from", ASCENDING)], sparse=True)  # moves; erasure finds them
        self.cdc_rows.create_index([("profile_id", ASCENDING)], sparse=True)
        self.cdc_rows.create_index([("table", ASCENDING), ("position", ASCENDING)])
