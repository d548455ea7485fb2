"""`c360 serve` in a process of its own, as an operator runs it, on the suite's genuine servers: for the
tests that need the real served app (uvicorn, the composition root, the API's own process)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from c360.settings import Settings
from tests.conftest import _free_ports


def serve_env(
    settings: Settings, database: str, dead_letters: str, keys: list[dict[str, object]]
) -> dict[str, str]:
    return {
        **os.environ,
        "C360_MONGO__URI": settings.mongo.uri,
        "C360_MONGO__DATABASE": database,
        "C360_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "C360_KAFKA__DEAD_LETTER_TOPIC": dead_letters,
        "C360_API__KEYS": json.dumps(keys),
    }


@contextmanager
def served(env: dict[str, str], preexec: Callable[[], None] | None = None) -> Iterator[int]:
    """The port of a `c360 serve` that answers /health; stopped (SIGTERM) on exit."""
    port = _free_ports(1)[0]
    command = [sys.executable, "-m", "c360.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, preexec_fn=preexec)
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            assert server.poll() is None and time.monotonic() < deadline, "c360 serve did not start"
            time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(30)


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    return False
