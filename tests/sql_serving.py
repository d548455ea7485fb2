"""The SQL endpoint (sql/server.py) served on a free port from a thread of its own, for tests that connect
real PostgreSQL clients to it; stopped (its task cancelled, its loop closed) when the block ends."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from sql.server import Endpoint, run
from tests.conftest import _free_ports


@contextlib.contextmanager
def serving(endpoint: Endpoint) -> Iterator[int]:
    """The port `endpoint` listens on (127.0.0.1) while the block runs."""
    (port,) = _free_ports(1)
    loop, started = asyncio.new_event_loop(), threading.Event()

    async def main() -> None:
        ready = asyncio.Event()
        server = asyncio.create_task(run(endpoint, "127.0.0.1", port, ready))
        await asyncio.wait([server, asyncio.create_task(ready.wait())], return_when="FIRST_COMPLETED")
        started.set()
        await server

    task = loop.create_task(main())

    def thread_main() -> None:
        asyncio.set_event_loop(loop)
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    thread = threading.Thread(target=thread_main, name="sql-endpoint", daemon=True)
    thread.start()
    try:
        assert started.wait(10) and not task.done(), "the SQL endpoint did not start"
        yield port
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(10)
        loop.close()
