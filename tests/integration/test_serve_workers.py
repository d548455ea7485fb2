"""`c360 serve --workers 2` as an operator runs it: two processes, a listening socket each, a client's
keep-alive pool spread over both, a clean stop on SIGTERM, no worker left behind by a SIGKILL, and a clear
refusal of a port already served.

Which process holds which connection is read from /proc (the sockets' inodes), not from the server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from c360.settings import Settings
from tests.conftest import _free_ports

pytestmark = pytest.mark.integration
CONNECTIONS = 32
LISTEN, ESTABLISHED = "0A", "01"


@pytest.fixture
def server_env(settings: Settings, fresh_db: str) -> dict[str, str]:
    keys = json.dumps([{"name": "t", "key": "worker-test-key-0123", "role": "reader"}])
    return {**os.environ, "C360_MONGO__URI": settings.mongo.uri, "C360_MONGO__DATABASE": fresh_db,
            "C360_API__KEYS": keys}  # fmt: skip


def _serve(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "c360.cli", "serve", "--port", str(port), "--workers", str(workers)]
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def served(server_env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = _free_ports(1)[0]
    server = _serve(server_env, port, 2)
    try:
        yield server, port
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(30)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _listeners(pid: int, port: int) -> list[int]:
    """The children of `pid` listening on `port`: its workers, once they have started."""
    return [child for child, n in _per_worker(_children(pid), port, LISTEN).items() if n]


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _tcp(port: int, state: str) -> set[str]:
    """Inodes of this machine's TCP sockets with local `port` in `state`."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                inodes.add(fields[9])
    return inodes


def _per_worker(workers: list[int], port: int, state: str) -> Counter[int]:
    sockets = _tcp(port, state)
    return Counter({pid: len(_socket_inodes(pid) & sockets) for pid in workers})


def _wait(condition: object, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_two_workers_each_listen_and_share_a_keep_alive_pool(
    served: tuple[subprocess.Popen[str], int],
) -> None:
    server, port = served
    workers: list[int] = []

    def both_listening() -> bool:
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        workers[:] = _listeners(server.pid, port)
        return len(workers) == 2

    _wait(both_listening)
    listening = [_socket_inodes(pid) & _tcp(port, LISTEN) for pid in workers]
    assert not listening[0] & listening[1]  # a socket each, not one shared: the kernel balances them
    pool = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
    try:
        for conn in pool:  # one request on each, so that every connection has been accepted
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        held = _per_worker(workers, port, ESTABLISHED)
        assert sum(held.values()) == CONNECTIONS
        # a hash spreads 32 connections over two sockets; fewer than 4 on one has odds of ~2 in a million
        assert min(held.values()) >= 4, held
    finally:
        for conn in pool:
            conn.close()

    server.send_signal(signal.SIGTERM)
    assert server.wait(30) == 0
    assert not [pid for pid in workers if Path(f"/proc/{pid}/cmdline").exists()]


def test_a_port_already_served_is_refused_with_its_reason(
    served: tuple[subprocess.Popen[str], int], server_env: dict[str, str]
) -> None:
    server, port = served
    _wait(lambda: len(_listeners(server.pid, port)) == 2)
    second = _serve(server_env, port, 2)
    _, stderr = second.communicate(timeout=60)
    assert second.returncode != 0
    assert f"cannot serve on 127.0.0.1:{port}: Address already in use" in stderr


def test_workers_die_with_a_killed_server(served: tuple[subprocess.Popen[str], int]) -> None:
    server, port = served
    _wait(lambda: len(_listeners(server.pid, port)) == 2)
    workers = _listeners(server.pid, port)
    server.kill()
    server.wait(30)
    _wait(lambda: not [pid for pid in workers if Path(f"/proc/{pid}/cmdline").exists()], timeout_s=10)
    assert not _tcp(port, LISTEN)  # and the port is free again
