"""The API's hot reads, a profile by id and by identifier, on pymongo's asyncio client.

A call-center screen or an offer check reads at 1,000 requests/s; with the blocking client each read
went through the thread pool, and that hop cost more CPU (~0.2 ms) than the read's own decoding. Here
the read awaits MongoDB on the server's event loop. An asyncio client belongs to the loop that first
uses it, hence `open` from inside the running loop (the app's lifespan) and `close` on the same loop.

Each read is one `find` (shared with the reads that arrive with it, operational/read_batches.py) or
`aggregate` command whose results come back in the first batch, sent with `Database.command`: pymongo's
cursor helpers (`find_one`, `aggregate`) build and tear down a cursor object per call: ~50-100 µs of CPU
per read more (measured on 8 KB profiles). The driver does not retry a plain command, so `_docs` retries
once on what its retryable reads retry on: a network error or a primary that stepped down
(`AutoReconnect`).

Dates come back naive, in UTC: pymongo's decoder makes an aware datetime with a Python-level
`replace(tzinfo=...)` per date, ~2 µs each against ~0.15 µs for a naive one, and a profile holds ~80
(~150 µs per read, a tenth of the API's CPU per request, docs/BENCHMARKS.md). The profile response is
evaluated against a naive UTC clock and written with a `Z` (api/profile_body.py), so nothing else sees them.
"""

from __future__ import annotations

import functools
from typing import Any

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect

from ingest.events import IdentifierType
from operational.held_keys import FIELD as KEYS
from operational.read_batches import ReadBatches
from operational.reads import MAX_REDIRECTS, edge_with_profile, identity_key
from operational.store import CODEC_OPTIONS

# A command's reply does not go through the codec's type registry (Decimal128 would stay Decimal128):
# it stays raw, and the documents it carries are decoded with the store's codec, dates naive (UTC).
RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)
NAIVE_UTC: CodecOptions[Any] = CODEC_OPTIONS.with_options(tz_aware=False)


class AsyncProfileReader:
    def __init__(self, client: AsyncMongoClient, database: str) -> None:
        self._client = client
        self._db: AsyncDatabase = client.get_database(database, codec_options=CODEC_OPTIONS)
        # Reads arriving together share a find (operational/read_batches.py).
        self._by_id = ReadBatches(functools.partial(self._finds, "_id"), lambda doc: (doc["_id"],))
        self._by_key = ReadBatches(functools.partial(self._finds, KEYS), lambda doc: doc.get(KEYS, ()))

    @classmethod
    def open(cls, uri: str, database: str) -> AsyncProfileReader:
        return cls(AsyncMongoClient(uri, tz_aware=True, appname="c360-api"), database)

    async def close(self) -> None:
        await self._client.close()

    async def get(self, profile_id: str) -> dict[str, Any] | None:
        """The live profile; an id merged away resolves to its survivor."""
        return await self._live(await self._by_id.read(profile_id))

    async def lookup(self, type_: IdentifierType, value: str) -> dict[str, Any] | None:
        key = identity_key(type_, value)
        doc = await self._by_key.read(key)
        if doc is None:
            pipeline = edge_with_profile(key)
            edges = await self._docs({"aggregate": "identities", "pipeline": pipeline, "cursor": {}})
            doc = None if not edges or not edges[0]["p"] else edges[0]["p"][0]
        return await self._live(doc)

    async def _live(self, doc: dict[str, Any] | None) -> dict[str, Any] | None:
        for _ in range(MAX_REDIRECTS):
            if doc is None or "merged_into" not in doc:
                return doc
            doc = await self._by_id.read(doc["merged_into"])
        return None

    async def _finds(self, field: str, values: list[str]) -> list[dict[str, Any]]:
        """The profiles whose `field` holds one of `values`, in one find."""
        if len(values) == 1:
            return await self._docs(_find({field: values[0]}, 1))
        return await self._docs(_find({field: {"$in": values}}, len(values)))

    async def _docs(self, command: dict[str, Any]) -> list[dict[str, Any]]:
        """The documents of a cursor command's first batch; retried once after AutoReconnect."""
        try:
            reply = await self._db.command(command, codec_options=RAW)
        except AutoReconnect:
            reply = await self._db.command(command, codec_options=RAW)
        return [bson.decode(doc.raw, NAIVE_UTC) for doc in reply["cursor"]["firstBatch"]]


def _find(query: dict[str, Any], limit: int) -> dict[str, Any]:
    return {"find": "profiles", "filter": query, "limit": limit, "singleBatch": True}
