"""The local servers are genuine, and their lifecycle is safe to repeat: up, status, down, stale, busy."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from pymongo import MongoClient

from c360.servers import LocalServers, PortInUseError, ServerError
from c360.settings import LocalServerSettings, Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def servers(local_server_settings: LocalServerSettings) -> Iterator[LocalServers]:
    """A private pair of servers (not the session's), always stopped afterwards."""
    servers = LocalServers(local_server_settings)
    yield servers
    servers.down()


def _is_process(pid: int) -> bool:
    """A live process (a zombie has an empty cmdline)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    return cmdline.exists() and cmdline.read_bytes() != b""


def test_up_twice_keeps_the_same_servers(servers: LocalServers) -> None:
    first = servers.up()
    second = servers.up()

    assert [s.name for s in first] == ["mongod", "tansu"]
    assert all(s.running and s.pid for s in first)
    assert [s.pid for s in second] == [s.pid for s in first]
    assert servers.status() == second


def test_stale_pid_files_are_replaced(servers: LocalServers) -> None:
    exited = subprocess.Popen(["true"])
    exited.wait()
    mongod, tansu = servers.status()
    servers.home.mkdir(parents=True)
    mongod.pid_file.write_text(f"{exited.pid}\n")  # process gone
    tansu.pid_file.write_text(f"{os.getpid()}\n")  # pid alive, but it is pytest, not tansu

    mongod, tansu = servers.up()

    assert mongod.running and mongod.pid != exited.pid
    assert tansu.running and tansu.pid != os.getpid()
    assert tansu.pid_file.read_text().strip() == str(tansu.pid)


def test_busy_port_is_named_with_the_setting_to_change(servers: LocalServers) -> None:
    kafka_port = servers.status()[1].port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", kafka_port))
        squatter.listen()

        with pytest.raises(PortInUseError, match=rf"port {kafka_port} .*C360_LOCAL__KAFKA_PORT"):
            servers.up()

    assert not any(s.pid for s in servers.status())  # checked before anything started


def test_failed_start_stops_what_it_started(local_server_settings: LocalServerSettings) -> None:
    servers = LocalServers(local_server_settings.model_copy(update={"mongo_cache_gb": 0.1}))

    with pytest.raises(ServerError, match=r"mongod exited during startup(.|\n)*cacheSizeGB"):
        servers.up()

    assert not any(s.pid for s in servers.status())


def test_running_server_with_other_arguments_is_refused(
    servers: LocalServers, local_server_settings: LocalServerSettings
) -> None:
    servers.up()
    changed = LocalServers(local_server_settings.model_copy(update={"mongo_cache_gb": 0.3}))

    with pytest.raises(ServerError, match="runs with other arguments"):
        changed.up()


def test_down_stops_the_processes_and_can_repeat(servers: LocalServers) -> None:
    pids = [s.pid for s in servers.up()]

    stopped = servers.down()

    assert not any(s.running or s.pid or s.pid_file.exists() for s in stopped)
    assert not any(_is_process(pid) for pid in pids if pid)
    assert servers.down() == stopped


def test_kafka_round_trip_with_headers(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> None:
    topic = unique_name("topic")
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(topic, key=b"k1", value=b'{"n": 1}', headers=[("source", b"test")]).get(timeout=10)
    producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=unique_name("group"),
        auto_offset_reset="earliest",
        session_timeout_ms=2_000,
        heartbeat_interval_ms=300,
    )

    records = []
    deadline = time.monotonic() + 20
    while not records and time.monotonic() < deadline:
        records = [r for batch in consumer.poll(timeout_ms=500).values() for r in batch]
    consumer.close()

    assert [(r.key, r.value, r.headers) for r in records] == [(b"k1", b'{"n": 1}', [("source", b"test")])]


def test_mongo_is_a_replica_set_with_change_streams_and_transactions(
    settings: Settings, mongo_client: MongoClient, fresh_db: str
) -> None:
    assert "replicaSet=rs0" in settings.mongo.uri
    profiles = mongo_client[fresh_db]["profiles"]
    profiles.insert_one({"_id": "seed"})  # a change stream needs the collection's database to exist

    with profiles.watch(max_await_time_ms=200) as stream:
        with mongo_client.start_session() as session, session.start_transaction():
            profiles.insert_one({"_id": "p1", "name": "Ada"}, session=session)
        change = None
        deadline = time.monotonic() + 10
        while change is None and time.monotonic() < deadline:
            change = stream.try_next()

    assert change is not None
    assert (change["operationType"], change["fullDocument"]) == ("insert", {"_id": "p1", "name": "Ada"})
