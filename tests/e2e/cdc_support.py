"""Live CDC helpers: a `c360 connect` process per source, an ingest loop in a thread, profile lookups."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from c360.bootstrap import ingest_loop
from c360.publish import ensure_topics
from c360.settings import Settings
from ingest.mappings import DEFAULT_MAPPING_FILE
from operational.store import Store


def cdc_mapping(path: Path, topics: dict[str, str]) -> list[str]:
    """The default mapping file with its CDC topics renamed (old prefix -> this test's); the topics."""
    mapping = yaml.safe_load(DEFAULT_MAPPING_FILE.read_text())
    for table in mapping["tables"]:
        for old, new in topics.items():
            if table["topic"].startswith(old + "."):
                table["topic"] = new + table["topic"][len(old) :]
    path.write_text(yaml.safe_dump(mapping))
    return [t["topic"] for t in mapping["tables"]] + [s["topic"] for s in mapping["sources"]]


@dataclass
class Connector:
    """`c360 connect` in its own process (its JVM dies with it): start, stop gracefully, or kill -9."""

    config: Path
    settings: Settings
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "C360_KAFKA__BOOTSTRAP_SERVERS": self.settings.kafka.bootstrap_servers}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "c360.cli", "connect", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    @property
    def offsets(self) -> Path:
        return self.config.with_suffix(".offsets")

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """The process's exit status (None if it was not running)."""
        if self.process is None:
            return None
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            status, self.process = self.process.returncode, None
        return status


@dataclass
class LiveCdc:
    """One test's private CDC pipeline: settings (own database, group, dead-letter topic, mapping file
    with renamed CDC topics), the topics, the operational store and the connector process."""

    settings: Settings
    topics: list[str]
    store: Store
    connector: Connector


def live_cdc(
    settings: Settings,
    database: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    renames: dict[str, str],
    name: str,
    properties: dict[str, Any],
) -> LiveCdc:
    configured = settings.model_copy(deep=True)
    configured.mongo.database = database
    configured.kafka.group_id = unique_name("group")
    configured.kafka.dead_letter_topic = unique_name("deadletter")
    configured.ingest.mapping_file = tmp_path / "mappings.yaml"
    topics = cdc_mapping(configured.ingest.mapping_file, renames)
    store = Store.open(configured.mongo.uri, database)
    store.ensure_indexes()
    config = write_connector_config(tmp_path / f"{name}.toml", name, properties)
    return LiveCdc(configured, topics, store, Connector(config, configured, tmp_path / "connect.log"))


def offsets_lsn(offsets: bytes) -> int:
    """The LSN a PostgreSQL connector's offsets resume from (a serialized Java map holding JSON text)."""
    return max(int(lsn) for lsn in re.findall(rb'"lsn":(\d+)', offsets))


def write_connector_config(path: Path, name: str, properties: dict[str, Any]) -> Path:
    lines = [f'name = "{name}"', f'offsets_file = "{name}.offsets"', "", "[debezium]"]
    lines += [f'"{key}" = "{value}"' for key, value in properties.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def running_ingest(settings: Settings, topics: list[str]) -> Iterator[None]:
    """An ingest loop for `settings` in a background thread until the block ends."""
    ensure_topics(settings.kafka, [*topics, settings.kafka.dead_letter_topic])
    stop = threading.Event()
    failure: list[BaseException] = []
    ready = threading.Event()

    def run() -> None:
        try:
            with ingest_loop(settings) as loop:
                ready.set()
                loop.run(stop)
        except BaseException as exc:
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(60)
    try:
        yield
    finally:
        stop.set()
        thread.join(60)
    if failure:
        raise failure[0]


def profile_of(store: Store, identity_key: str) -> dict[str, Any] | None:
    link = store.identities.find_one({"_id": identity_key})
    if link is None:
        return None
    return store.profiles.find_one({"_id": link["profile_id"]})


def until(store: Store, identity_key: str, check: Callable[[dict[str, Any]], bool], what: str) -> float:
    """Seconds until the profile holding `identity_key` passes `check`; fails after 180 s (a JVM starting
    Debezium on a loaded 2-core machine has taken over 60 s; a broken pipeline never gets there)."""
    started = time.monotonic()
    while True:
        doc = profile_of(store, identity_key)
        if doc is not None and check(doc):
            return time.monotonic() - started
        assert time.monotonic() - started < 180, f"timed out waiting for {what}; profile: {doc}"
        time.sleep(0.02)
