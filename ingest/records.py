"""A Kafka record in, a canonical event or a dead letter out: the pure heart of the consumer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kafka.consumer.fetcher import ConsumerRecord

from ingest.cdc import change_to_canonical
from ingest.errors import DecodeError, IngestError
from ingest.events import CanonicalEvent
from ingest.mappings import SourceMapping, TableMapping, to_canonical


@dataclass(frozen=True)
class SourceRecord:
    """What c360 needs of a Kafka record, so that translation is testable without a broker."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int

    @classmethod
    def of(cls, record: ConsumerRecord) -> SourceRecord:
        return cls(record.topic, record.partition, record.offset, record.key, record.value, record.timestamp)


@dataclass(frozen=True)
class DeadLetter:
    record: SourceRecord
    reason: str
    field: str
    message: str


@dataclass(frozen=True)
class Skipped:
    """A record with nothing to apply: a Debezium tombstone or logical message. Counted, then committed."""

    record: SourceRecord


def decode_json(raw: bytes | None, max_bytes: int) -> Any:
    """Strict JSON; numbers with a fraction become Decimal so money is never a float."""
    if raw is None:
        raise DecodeError("$", "empty message (null value)")
    if len(raw) > max_bytes:
        raise DecodeError("$", f"message of {len(raw)} bytes exceeds the limit of {max_bytes}")
    try:
        return json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise DecodeError("$", f"not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DecodeError("$", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise DecodeError("$", "JSON nested too deeply") from None


def translate(
    record: SourceRecord, mappings: dict[str, SourceMapping | TableMapping], max_bytes: int
) -> CanonicalEvent | DeadLetter | Skipped:
    mapping = mappings.get(record.topic)
    if mapping is None:
        return DeadLetter(record, "unmapped_topic", "topic", f"no mapping for topic {record.topic!r}")
    try:
        if isinstance(mapping, TableMapping):
            event = change_to_canonical(mapping, record.key, record.value, record.timestamp_ms, max_bytes)
            return Skipped(record) if event is None else event
        payload = decode_json(record.value, max_bytes)
        return to_canonical(mapping, payload, record.value or b"")
    except IngestError as exc:
        return DeadLetter(record, exc.reason, exc.field, exc.message)


def _refuse_constant(name: str) -> None:
    raise DecodeError("$", f"{name} is not valid JSON")
