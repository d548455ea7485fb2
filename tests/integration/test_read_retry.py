"""The API's hot reads survive a dropped connection. They are plain commands, which the driver does not
retry, so `AsyncProfileReader` retries once itself: a TCP proxy in front of the real mongod closes every
connection between two reads, and the second read still answers, over a new connection."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from pymongo import AsyncMongoClient

from c360.settings import Settings
from operational.async_reads import AsyncProfileReader
from operational.reads import ProfileReader
from operational.store import Store


class DroppingProxy:
    """Forwards TCP to a target; `drop` closes every connection open through it."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._writers: list[asyncio.StreamWriter] = []
        self.accepted = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    def drop(self) -> None:
        for writer in self._writers:
            writer.transport.abort()  # a reset, as when a primary steps down or a network path breaks
        self._writers.clear()

    async def close(self) -> None:
        self.drop()
        self._server.close()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.accepted += 1
        server_r, server_w = await asyncio.open_connection(*self._target)
        self._writers += [client_w, server_w]
        await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w), return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()


def test_a_read_after_the_connections_dropped_is_retried_once(
    stitched_store: Store, settings: Settings
) -> None:
    ann = ProfileReader(stitched_store).lookup("email", "ann@shop.co.uk")
    assert ann is not None
    target = urlsplit(settings.mongo.uri)
    assert target.hostname is not None and target.port is not None

    async def scenario() -> None:
        proxy = DroppingProxy(target.hostname, target.port)
        port = await proxy.start()
        client = AsyncMongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true", tz_aware=True)
        reader = AsyncProfileReader(client, stitched_store.db.name)
        try:
            assert (await reader.get(ann["_id"]))["version"] == ann["version"]  # pooled connection
            for read in (lambda: reader.get(ann["_id"]), lambda: reader.lookup("email", "ann@shop.co.uk")):
                accepted = proxy.accepted
                proxy.drop()
                found = await read()
                assert found is not None and found["_id"] == ann["_id"]
                assert proxy.accepted > accepted  # answered over a new connection
        finally:
            await reader.close()
            await proxy.close()

    asyncio.run(scenario())
