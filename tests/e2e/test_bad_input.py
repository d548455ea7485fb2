"""Bad input never stops the pipeline and never costs a good event: each bad record lands in the dead
letter topic with its reason, its source position and its original bytes."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from kafka import KafkaProducer

from c360 import bootstrap
from c360 import ingest_loop as consumer
from c360.bootstrap import ingest_loop
from c360.world import TOPIC_CLICKSTREAM, TOPIC_EMAIL, TOPIC_TRANSACTIONS, generate_world
from ingest.events import CanonicalEvent
from ingest.mappings import SourceMapping, TableMapping
from ingest.records import DeadLetter, Skipped, SourceRecord
from operational.writer import ApplyResult
from tests.e2e.support import Pipeline, assert_profiles_match_ground_truth, run_until

pytestmark = pytest.mark.e2e

GOOD_TX = {
    "txn_id": "TX-x",
    "account": "ACC-1",
    "amount": "1.00",
    "currency": "GBP",
    "dc": "D",
    "channel": "atm",
    "booked_at": "2026-11-01T10:00:00Z",
}
BAD: list[tuple[str, str, bytes | None, str]] = [
    ("malformed json", TOPIC_TRANSACTIONS, b'{"txn_id": "TX-bad", "account": ', "decode"),
    ("binary", TOPIC_TRANSACTIONS, bytes(range(256)), "decode"),
    ("null value", TOPIC_TRANSACTIONS, None, "decode"),
    ("oversize", TOPIC_TRANSACTIONS, json.dumps(GOOD_TX | {"pad": "x" * 30_000}).encode(), "decode"),
    ("not an object", TOPIC_TRANSACTIONS, b'"just a string"', "mapping"),
    ("amount wrong type", TOPIC_TRANSACTIONS, json.dumps(GOOD_TX | {"amount": {"v": 1}}).encode(), "mapping"),
    (
        "time wrong type",
        TOPIC_CLICKSTREAM,
        b'{"event_id": "e", "cookie": "ck_1", "action": "page_view", "ts": "yesterday"}',
        "mapping",
    ),
    (
        "missing identifier",
        TOPIC_CLICKSTREAM,
        b'{"event_id": "e2", "action": "page_view", "ts": 1}',
        "mapping",
    ),
    (
        "integer beyond 64 bits",
        TOPIC_CLICKSTREAM,
        b'{"event_id": "e3", "cookie": "ck_1", "action": "page_view", "ts": 1, '
        b'"device": 123456789012345678901234567890}',
        "invalid_event",
    ),
    (
        "lone surrogate",
        TOPIC_CLICKSTREAM,
        b'{"event_id": "e4", "cookie": "ck_1", "action": "page_view", "ts": 1, "url": "\\ud800"}',
        "decode",
    ),
    (
        "a minute of CPU in nine bytes",
        TOPIC_CLICKSTREAM,
        b'{"event_id": "e5", "cookie": "ck_1", "action": "page_view", "ts": 1e1000000}',
        "decode",
    ),
    (
        "operator deep in an attribute",
        TOPIC_CLICKSTREAM,
        b'{"event_id": "e6", "cookie": "ck_1", "action": "page_view", "ts": 1, "device": '
        + b"[" * 20
        + b'{"$set": {"merged_into": "p0"}}'
        + b"]" * 20
        + b"}",
        "invalid_event",
    ),
    (
        "invalid email",
        TOPIC_EMAIL,
        b'{"message_id": "m", "recipient": "not-an-email", "event": "sent", '
        b'"timestamp": "2026-01-01 00:00:00"}',
        "invalid_event",
    ),
]


def test_bad_records_dead_lettered_good_ones_all_applied_consumer_keeps_going(pipeline: Pipeline) -> None:
    pipeline.settings.ingest.max_message_bytes = 20_000
    world = generate_world(people=300, events_per_person=10, seed=13)
    half = len(world.messages) // 2
    producer = KafkaProducer(bootstrap_servers=pipeline.settings.kafka.bootstrap_servers)
    pipeline.publish(world.messages[:half])
    positions = {}
    for name, topic, value, _ in BAD:
        meta = producer.send(pipeline.topic(topic), key=name.encode(), value=value).get(timeout=10)
        positions[name] = (meta.topic, meta.partition, meta.offset)
    producer.flush()

    with ingest_loop(pipeline.settings) as loop:
        run_until(loop, lambda: loop.totals.records >= half + len(BAD))
        assert loop.totals.dead_letters == len(BAD)
        # The same consumer goes on with the rest of the world after the bad records.
        pipeline.publish(world.messages[half:])
        run_until(loop, lambda: loop.totals.records >= len(world.messages) + len(BAD))
    producer.close()

    assert loop.totals.applied == len(world.messages)
    assert_profiles_match_ground_truth(world, pipeline.store)
    letters = {r.key.decode(): r for r in pipeline.dead_letters(len(BAD))}
    assert set(letters) == {name for name, *_ in BAD}
    for name, _, value, reason in BAD:
        record = letters[name]
        headers = {k: v.decode() for k, v in record.headers}
        topic, partition, offset = positions[name]
        assert record.value == value, name
        assert headers["c360.reason"] == reason, (name, headers)
        assert headers["c360.error"], name
        assert (
            headers["c360.source.topic"],
            int(headers["c360.source.partition"]),
            int(headers["c360.source.offset"]),
        ) == (topic, partition, offset), name


class _WriterWithABug:
    """The real writer, failing (as a bug would) on any batch holding an event with this url."""

    def __init__(self, writer: consumer.EventWriter) -> None:
        self._writer = writer

    def apply(self, events: Sequence[CanonicalEvent]) -> ApplyResult:
        if any(e.attributes.get("url") == "/writer-bug" for e in events):
            raise TypeError("a bug in the writer")
        return self._writer.apply(events)


def test_a_record_that_raises_is_an_internal_dead_letter_and_loses_no_neighbour(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last resort: an exception nobody foresaw, in translating one record or in writing one event,
    makes that record an `internal` dead letter naming the exception; the consumer goes on, and every
    other record of the same batches is applied."""
    translate = consumer.translate

    def translate_with_a_bug(
        record: SourceRecord, mappings: dict[str, SourceMapping | TableMapping], max_bytes: int
    ) -> CanonicalEvent | DeadLetter | Skipped:
        if record.key == b"translate-bug":
            raise ZeroDivisionError("a bug in translating")
        return translate(record, mappings, max_bytes)

    writer = bootstrap.profile_writer
    monkeypatch.setattr(consumer, "translate", translate_with_a_bug)
    monkeypatch.setattr(bootstrap, "profile_writer", lambda s, store: _WriterWithABug(writer(s, store)))
    world = generate_world(people=60, events_per_person=8, seed=29)
    half = len(world.messages) // 2
    click = {"event_id": "bug-1", "cookie": "ck_bug", "action": "page_view", "ts": 1_767_225_600_000}
    bugs = {
        "translate-bug": json.dumps(click).encode(),
        "writer-bug": json.dumps(click | {"event_id": "bug-2", "url": "/writer-bug"}).encode(),
    }
    pipeline.publish(world.messages[:half])
    producer = KafkaProducer(bootstrap_servers=pipeline.settings.kafka.bootstrap_servers)
    for key, value in bugs.items():
        producer.send(pipeline.topic(TOPIC_CLICKSTREAM), key=key.encode(), value=value).get(timeout=10)
    producer.close()
    pipeline.publish(world.messages[half:])

    with ingest_loop(pipeline.settings) as loop:
        run_until(loop, lambda: loop.totals.records >= len(world.messages) + len(bugs))
    assert (loop.totals.applied, loop.totals.dead_letters) == (len(world.messages), len(bugs))
    assert_profiles_match_ground_truth(world, pipeline.store)
    letters = {r.key.decode(): {k: v.decode() for k, v in r.headers} for r in pipeline.dead_letters(2)}
    assert set(letters) == set(bugs)
    assert letters["translate-bug"]["c360.reason"] == letters["writer-bug"]["c360.reason"] == "internal"
    assert letters["translate-bug"]["c360.error"].startswith("ZeroDivisionError: a bug in translating")
    assert letters["writer-bug"]["c360.error"].startswith("TypeError: a bug in the writer")
