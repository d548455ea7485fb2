"""The dead-letter topic: refused records keep their original bytes, with the reason in headers.

Headers follow Kafka Connect's DLQ habit (context in headers, payload untouched) so that a fixed
record can be replayed to its source topic as it is. A refused file row (`c360 import`) goes to the same
topic, keyed by its file, with headers naming the file source, file, row (line, row group) and column.
"""

from __future__ import annotations

from datetime import UTC, datetime

from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata

from ingest.file_rows import RowDeadLetter
from ingest.records import DeadLetter

HEADER_PREFIX = "c360."
MAX_ERROR_CHARS = 500  # a MongoDB refusal or a malformed row's text can be long


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
    return [(HEADER_PREFIX + name, value.encode()) for name, value in fields.items()]


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
        (HEADER_PREFIX + name, str(value).encode()) for name, value in fields.items() if value is not None
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
        self._pending.append(self._producer.send(self._topic, value=value, key=key, headers=headers))

    def flush(self, timeout_s: float = 30.0) -> int:
        self._producer.flush(timeout=timeout_s)
        pending, self._pending = self._pending, []
        for future in pending:
            future.get(timeout=timeout_s)
        return len(pending)

    def close(self) -> None:
        self._producer.close()
