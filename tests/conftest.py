"""Genuine servers for the suite: a mongod replica set and a Tansu broker on free ports in a tmp dir.

They start only when a test asks for `settings` (or a fixture built on it), once per session, and stop at
its end; unit tests never pay for them. A run stopped with SIGTERM (a CI timeout, `kill`) stops them too:
it is turned into the KeyboardInterrupt of a Ctrl-C, after which pytest still tears its fixtures down.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from pymongo import MongoClient

from c360.servers import LocalServers, settings_for_local
from c360.settings import LocalServerSettings, Settings, load_settings
from tests.postgres import PostgresServer


def pytest_configure(config: pytest.Config) -> None:
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def _free_ports(count: int) -> list[int]:
    """Ports the kernel hands out as free, all held open together so they are distinct."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _test_servers(home: Path) -> dict[str, object]:
    """`local` settings for test servers: free ports (a dev stack may run too) and a small cache."""
    mongo_port, kafka_port = _free_ports(2)
    return {"home": home, "mongo_port": mongo_port, "kafka_port": kafka_port, "mongo_cache_gb": 0.25}


@pytest.fixture
def local_server_settings(tmp_path: Path) -> Iterator[LocalServerSettings]:
    """Settings for a private pair of servers (own home, free ports), for tests that start and stop them.

    The home is deleted afterwards: each mongod preallocates ~300 MB of journal, and pytest keeps tmp dirs.
    """
    local = load_settings(local=_test_servers(tmp_path / "servers")).local
    yield local
    shutil.rmtree(local.home, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at the session's servers, with the short Kafka group timings Tansu needs."""
    base = load_settings(
        local=_test_servers(tmp_path_factory.mktemp("servers")),
        mongo={"database": "c360_test"},
        kafka={"session_timeout_ms": 2_000, "heartbeat_interval_ms": 300},
    )
    servers = LocalServers(base.local)
    servers.up()
    try:
        yield settings_for_local(base)
    finally:
        _stop_leftovers(os.getpid(), keep={s.pid for s in servers.status() if s.pid is not None})
        servers.down()
        shutil.rmtree(servers.home)


def _stop_leftovers(root: int, keep: set[int]) -> None:
    """Kill what `root`'s tests started and left running before the servers go: a sync's workers whose
    parent was SIGKILLed a moment ago (the kernel's kill on the parent's death is not instant), a
    sync a failed test left behind. Each would otherwise meet its MongoDB gone. The servers (`keep`)
    and the S3 server, which its own fixture stops, stay."""
    leftovers = _descendants(root, keep=lambda pid: pid in keep or b"moto_server" in _cmdline(pid))
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while [pid for pid in leftovers if _running(pid)] and time.monotonic() < deadline:
        time.sleep(0.05)


def _descendants(pid: int, keep: Callable[[int], bool]) -> list[int]:
    """Children, grandchildren... of `pid` from /proc (Linux; elsewhere none), but for those `keep`
    says to leave and theirs."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            children += [int(c) for c in (task / "children").read_text().split()]
    return [d for child in children if not keep(child) for d in (child, *_descendants(child, keep))]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for its parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="session")
def mongo_client(settings: Settings) -> Iterator[MongoClient]:
    with MongoClient(settings.mongo.uri) as client:
        yield client


@pytest.fixture(scope="session")
def kafka_bootstrap(settings: Settings) -> str:
    return settings.kafka.bootstrap_servers


@pytest.fixture
def fresh_db(mongo_client: MongoClient) -> Iterator[str]:
    """A database name of this test's own, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    mongo_client.drop_database(name)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Makes unique Kafka topic/group names; Tansu may loop on rebalance when a group id is reused."""
    test = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:40]
    return lambda prefix: f"{prefix}-{test}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster (Debian's postgresql) with wal_level=logical on a free port.

    Its data directory is outside pytest's tmp dirs, which the postgres user cannot traverse.
    """
    home = Path(tempfile.mkdtemp(prefix="c360-pg-"))
    home.chmod(0o755)
    server = PostgresServer.create(f"c360test{uuid.uuid4().hex[:8]}", home / "data", _free_ports(1)[0])
    try:
        yield server
    finally:
        subprocess.run(["pg_dropcluster", "--stop", server.version, server.cluster], check=False)
        shutil.rmtree(home, ignore_errors=True)
