"""The dead-letter topic: refused records keep their original bytes, with the reason in headers.

Headers follow Kafka Connect's DLQ habit (context in headers, payload untouched) so that a fixed
record can be replayed to its source topic as it is. A record too large for the producer to send (a
record over the size limit, a webhook body) keeps its first bytes, with `c360.truncated` and its
original sizes in headers: refusing it would stop ingest on the record (its offset is committed only
after its dead letter is acknowledged), and a webhook caller would get a 500. A refused file row
(`c360 import`) goes to the same topic, keyed by its file, with headers naming the file source, file,
row (line, row group) and column.
"""

from __future__ import annotations

from datetime import UTC, datetime

from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata

from ingest.file_rows import RowDeadLetter
from ingest.records import MAX_ERROR_CHARS, DeadLetter

HEADER_PREFIX = "c360."
MAX_HEADER_CHARS = 1_000
# What a record batch adds to its key, value and headers, with room to spare (kafka-python's estimate is
# ~70 bytes plus a few per header).
BATCH_OVERHEAD = 1_024
MAX_KEY_BYTES = 1_024  # of a truncated record's key


def dead_letter_headers(letter: DeadLetter, failed_at: datetime) -> list[tuple[str, bytes]]:
    record = letter.record
    fields = {
        "reason": letter.reason,
        "field": letter.field,
        "error": letter.message,
        "source.topic": record.topic,
        "source.partition": str(record.partition),
        "source.offset": str(record.offset),
        "failed_at": failed_at.isoformat(),
    }
    return [(HEADER_PREFIX + name, _header(value)) for name, value in fields.items()]


def fitted(
    key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]], max_bytes: int
) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    """Key, value and headers within `max_bytes`: as they are when they fit, else cut, saying so."""
    size = len(key or b"") + len(value or b"") + sum(len(n) + len(v) for n, v in headers) + BATCH_OVERHEAD
    if size <= max_bytes:
        return key, value, headers
    original = [("truncated", "true"), ("original.key_bytes", str(len(key or b"")))]
    original.append(("original.value_bytes", str(len(value or b""))))
    headers = headers + [(HEADER_PREFIX + name, text.encode()) for name, text in original]
    key = None if key is None else key[:MAX_KEY_BYTES]
    room = max_bytes - BATCH_OVERHEAD - len(key or b"") - sum(len(n) + len(v) for n, v in headers)
    return key, None if value is None else value[: max(room, 0)], headers


def _header(text: str) -> bytes:
    """Bounded, and encodable whatever the text holds (a lone surrogate in an error message)."""
    return text[:MAX_HEADER_CHARS].encode("utf-8", "backslashreplace")


def row_dead_letter_headers(
    letter: RowDeadLetter, source: str, failed_at: datetime
) -> list[tuple[str, bytes]]:
    """`source.row` counts data rows from 1 and is absent for a malformed CSV row (pyarrow gives none)."""
    row = letter.row
    fields = {
        "reason": letter.reason,
        "field": letter.field,
        "error": letter.message[:MAX_ERROR_CHARS],
        "source.name": source,
        "source.file": row.file,
        "source.row": row.number,
        "source.line": row.line,
        "source.row_group": row.row_group,
        "failed_at": failed_at.isoformat(),
    }
    return [
        (HEADER_PREFIX + name, _header(str(value))) for name, value in fields.items() if value is not None
    ]


class DeadLetterSink:
    """Sends dead letters; `flush` raises if any was not acknowledged, before offsets are committed."""

    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self._pending: list[FutureRecordMetadata] = []

    def send(self, letter: DeadLetter) -> None:
        headers = dead_letter_headers(letter, datetime.now(UTC))
        self._send(letter.record.key, letter.record.value, headers)

    def send_row(self, letter: RowDeadLetter, source: str) -> None:
        headers = row_dead_letter_headers(letter, source, datetime.now(UTC))
        self._send(letter.row.file.encode(), letter.raw, headers)

    def _send(self, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        key, value, headers = fitted(key, value, headers, self._producer.config["max_request_size"])
        self._pending.append(self._producer.send(self._topic, value=value, key=key, headers=headers))

    def flush(self, timeout_s: float = 30.0) -> int:
        self._producer.flush(timeout=timeout_s)
        pending, self._pending = self._pending, []
        for future in pending:
            future.get(timeout=timeout_s)
        return len(pending)

    def close(self) -> None:
        self._producer.close()
