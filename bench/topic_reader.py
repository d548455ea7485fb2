"""Reading whole topics back, for benchmarks and tests that check what was sent: a consumer assigned every
partition of the topics from the start (no group: nothing to join, nothing committed), and its records
until the broker has had nothing more for a few polls (Tansu's end offsets can be wrong after
multi-message batches, so waiting on them is not safe)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord


def from_start(bootstrap: str, topics: list[str], **config: Any) -> KafkaConsumer:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **config)
    parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or [])]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    return consumer


def read_until_idle(bootstrap: str, topics: list[str], idle_polls: int = 3) -> Iterator[ConsumerRecord]:
    """Every record of `topics`, in order within each partition."""
    consumer = from_start(bootstrap, topics)
    try:
        idle = 0
        while idle < idle_polls:
            polled = consumer.poll(timeout_ms=500, max_records=10_000)
            idle = 0 if polled else idle + 1
            for records in polled.values():
                yield from records
    finally:
        consumer.close()
