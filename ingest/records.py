"""A Kafka record in, a canonical event or a dead letter out: the pure heart of the consumer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest import bounded_json
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


MAX_ERROR_CHARS = 500


def internal_letter(record: SourceRecord, exc: Exception) -> DeadLetter:
    """The last resort: an unexpected exception on one record makes it a dead letter naming the type."""
    return DeadLetter(record, "internal", "$", f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS])


def decode_json(raw: bytes | None, max_bytes: int) -> Any:
    """Strict, bounded JSON (ingest/bounded_json.py); numbers with a fraction become Decimal."""
    if raw is None:
        raise DecodeError("$", "empty message (null value)")
    try:
        return bounded_json.loads(bounded_json.text_of(raw, max_bytes))
    except bounded_json.JsonRefused as exc:
        raise DecodeError("$", exc.message) from None


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
