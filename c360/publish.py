"""Put the demo world on Kafka: create its topics, then publish its raw messages as fast as we can.

Messages keep their source keys (so one person's records per source share a partition) and carry the
broker's append time, not the event time: old event timestamps would fall outside a real cluster's
retention and be deleted on arrival.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable, Sized
from typing import Protocol

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import TopicAlreadyExistsError

from c360.kafka_clients import client_config
from c360.progress import progress_bar
from c360.settings import KafkaSettings

log = logging.getLogger(__name__)

# Throughput settings: big batches, a little linger, no compression (the local broker is on loopback).
PRODUCER_CONFIG: dict[str, object] = {
    "acks": 1,
    "enable_idempotence": False,
    "linger_ms": 20,
    "batch_size": 512 * 1024,
    "max_request_size": 4 * 1024 * 1024,
    "compression_type": None,
    "retries": 5,
}
_PROGRESS_EVERY = 2_000


class Publishable(Protocol):
    """What `publish` needs of a message; `c360.world.Message` fits."""

    topic: str
    key: bytes
    value: bytes


def ensure_topics(
    kafka: KafkaSettings,
    topics: list[str],
    partitions: int = 3,
    configs: dict[str, dict[str, str]] | None = None,
) -> None:
    """Create the topics that do not exist yet, with kafka.replication_factor replicas and each topic's
    `configs` (e.g. cleanup.policy=compact); existing ones are left as they are."""
    admin = KafkaAdminClient(**client_config(kafka), client_id="c360-publish-admin")
    try:
        existing = set(admin.list_topics())
        for topic in topics:
            if topic in existing:
                continue
            options = {"num_partitions": partitions, "replication_factor": kafka.replication_factor}
            spec = {
                topic: {**options, **({"configs": configs[topic]} if configs and topic in configs else {})}
            }
            try:  # one topic per request: a concurrent creator makes only that one fail
                admin.create_topics(spec, wait_for_metadata=True)
                log.info("created topic %s (%d partitions)", topic, partitions)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def publish(
    messages: Iterable[Publishable],
    kafka: KafkaSettings,
    *,
    progress: bool = True,
    producer_config: dict[str, object] | None = None,
) -> int:
    """Send every message, flush, and return how many were sent; raises if the broker refused any."""
    if importlib.util.find_spec("crc32c") is None:
        log.info("the 'crc32c' package is not installed: kafka-python checksums in pure Python (~2x slower)")
    producer = KafkaProducer(**client_config(kafka), **{**PRODUCER_CONFIG, **(producer_config or {})})
    failures: list[BaseException] = []
    total = len(messages) if isinstance(messages, Sized) else None
    sent = 0
    try:
        with progress_bar(progress) as bar:
            task = bar.add_task("publishing", total=total)
            for message in messages:
                future = producer.send(message.topic, key=message.key, value=message.value)
                future.add_errback(failures.append)
                sent += 1
                if sent % _PROGRESS_EVERY == 0:
                    bar.update(task, completed=sent)
            bar.update(task, description="flushing", completed=sent)
            producer.flush()
            bar.update(task, description="published", completed=sent)
    finally:
        producer.close()
    if failures:
        raise RuntimeError(f"{len(failures)} of {sent} messages were not delivered: {failures[0]!r}")
    return sent
