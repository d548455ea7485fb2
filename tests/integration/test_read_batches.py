"""Concurrent hot reads share finds (operational/read_batches.py) and each still gets its own profile:
gets and lookups of 60 profiles at once on the genuine mongod, with pymongo's command monitoring counting
the finds sent; the expected profile of each read is the one the test inserted."""

from __future__ import annotations

import asyncio
import random

import pytest
from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent

from c360.settings import Settings
from operational.async_reads import AsyncProfileReader
from operational.held_keys import FIELD as KEYS
from operational.store import Store

pytestmark = pytest.mark.integration
PROFILES = 60


class Finds(CommandListener):
    def __init__(self) -> None:
        self.filters: list[dict[str, object]] = []

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.filters.append(event.command["filter"])

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


def test_reads_arriving_together_share_finds_and_each_gets_its_profile(
    store: Store, settings: Settings
) -> None:
    pid = [f"p{i:020x}" for i in range(PROFILES)]
    store.profiles.insert_many(
        [
            {"_id": pid[i], "version": i, KEYS: [f"customer_id:C-{i}", f"email:n{i}@x.com"]}
            for i in range(PROFILES)
        ]
        + [{"_id": "p" + "e" * 20, "merged_into": pid[3]}]  # a redirect, followed through the batches
    )
    reads = [("get", i) for i in range(PROFILES)] + [("lookup", i) for i in range(PROFILES)]
    random.Random(5).shuffle(reads)
    finds = Finds()

    async def scenario() -> list[dict[str, object] | None]:
        client = AsyncMongoClient(settings.mongo.uri, tz_aware=True, event_listeners=[finds])
        reader = AsyncProfileReader(client, store.db.name)
        try:
            calls = [
                reader.get(pid[i]) if kind == "get" else reader.lookup("customer_id", f"C-{i}")  # type: ignore[arg-type]
                for kind, i in reads
            ]
            calls += [
                reader.get("p" + "e" * 20),
                reader.get("p" + "0" * 19 + "x"),
                reader.lookup("email", "no@x.com"),
            ]
            return await asyncio.gather(*calls)
        finally:
            await reader.close()

    found = asyncio.run(scenario())
    for (_, i), doc in zip(reads, found, strict=False):
        assert doc is not None and doc["_id"] == pid[i] and doc["version"] == i
    redirected, unknown_id, unknown_key = found[-3:]
    assert redirected is not None and redirected["_id"] == pid[3]
    assert unknown_id is None and unknown_key is None
    # 123 reads and a redirect in far fewer finds; the unknowns were asked again alone before None.
    assert len(finds.filters) < len(reads) // 2, len(finds.filters)
    assert {"_id": "p" + "0" * 19 + "x"} in finds.filters and {KEYS: "email:no@x.com"} in finds.filters
