"""`c360 connect`'s offsets file under crashes: each flush replaces the file whole, and a file a crash
cut short stops the connector instead of letting it snapshot again (a new snapshot never sees the rows
deleted meanwhile, so their profiles would keep them)."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from c360.settings import Settings
from tests.e2e.cdc_support import Connector, offsets_lsn, write_connector_config
from tests.e2e.support import wait_for
from tests.postgres import PostgresServer

pytestmark = pytest.mark.e2e


def _changes(bootstrap: str, topic: str) -> list[tuple[str, int]]:
    """(op, row id) of every change event on `topic`, in order; delete tombstones left out."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=1000
    )
    try:
        values = [json.loads(m.value) for m in consumer if m.value is not None]
    finally:
        consumer.close()
    return [(v["op"], (v["after"] or v["before"])["id"]) for v in values]


def test_a_killed_connector_resumes_and_a_cut_off_offsets_file_stops_it(
    postgres: PostgresServer, settings: Settings, tmp_path: Path
) -> None:
    name = f"offsets_{uuid.uuid4().hex[:10]}"
    postgres.create_database(name)
    source = postgres.connect(name)
    source.execute(
        "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text);"
        "CREATE PUBLICATION c360 FOR TABLE accounts;"
        "INSERT INTO accounts VALUES (1, 'a')"
    )
    config = write_connector_config(tmp_path / f"{name}.toml", name, postgres.connector_properties(name))
    connector = Connector(config, settings, tmp_path / "connect.log")
    bootstrap, topic = settings.kafka.bootstrap_servers, f"{name}.public.accounts"
    try:
        connector.start()
        wait_for(lambda: _changes(bootstrap, topic) == [("r", 1)], 120, "the snapshot")
        wait_for(connector.offsets.exists, 30, "the first offsets flush")

        # A flush writes a new file and renames it over the old: a reader of the old one (or a crash
        # in the middle) still has a whole file. Kafka's file store rewrites the same inode in place.
        with connector.offsets.open("rb") as held:
            inode = connector.offsets.stat().st_ino
            source.execute("INSERT INTO accounts VALUES (2, 'b')")
            wait_for(lambda: connector.offsets.stat().st_ino != inode, 30, "a flush after the insert")
            assert offsets_lsn(held.read()) < offsets_lsn(connector.offsets.read_bytes())
        assert _changes(bootstrap, topic) == [("r", 1), ("c", 2)]

        # kill -9, then the file is cut short as a crash mid-write would leave it: the connector
        # refuses it, leaves it as it is, and relays nothing (no new snapshot).
        assert connector.stop(signal.SIGKILL) == -signal.SIGKILL
        whole = connector.offsets.read_bytes()
        connector.offsets.write_bytes(whole[: len(whole) // 2])
        source.execute("DELETE FROM accounts WHERE id = 1; INSERT INTO accounts VALUES (3, 'c')")
        connector.start()
        assert connector.process is not None
        assert connector.process.wait(timeout=120) == 1
        assert "cannot be read" in (tmp_path / "connect.log").read_text()
        assert connector.offsets.read_bytes() == whole[: len(whole) // 2]
        assert _changes(bootstrap, topic) == [("r", 1), ("c", 2)]

        # With the whole file back it resumes where it was killed: the delete and the insert made while
        # it was down arrive, and no row is read again by a snapshot.
        connector.offsets.write_bytes(whole)
        connector.start()
        wait_for(lambda: _changes(bootstrap, topic)[-2:] == [("d", 1), ("c", 3)], 120, "the changes")
        changes = _changes(bootstrap, topic)
        assert changes.count(("r", 1)) == 1
        assert set(changes) == {("r", 1), ("c", 2), ("d", 1), ("c", 3)}
    finally:
        connector.stop(signal.SIGKILL)
        source.close()
