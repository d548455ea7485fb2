"""Events POSTed by webhook sources (a Zendesk-style ticket webhook is the example): the body is mapped
by the same mapping file entry as the Kafka topic of that name, into the same canonical event, applied
by the same writer; what fails goes to the same dead-letter topic with its reason and original bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ingest.events import CanonicalEvent
from ingest.mappings import SourceMapping
from ingest.records import DeadLetter, SourceRecord, translate
from operational.writer import ApplyResult, ProfileWriter

MAX_DEPTH = 32


@dataclass
class WebhookIngest:
    mappings: dict[str, SourceMapping]
    writer: ProfileWriter
    dead_letter: Callable[[DeadLetter], None]
    max_bytes: int = 1_000_000

    def accepts(self, topic: str) -> bool:
        return topic in self.mappings

    def ingest(self, topic: str, body: bytes) -> tuple[CanonicalEvent, ApplyResult] | DeadLetter:
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        record = SourceRecord(topic, -1, -1, None, body, now_ms)
        operator = _operator_key(body)
        if operator is not None:
            letter = DeadLetter(
                record, "operator_key", operator, "field names may not start with $ or hold a dot"
            )
            self.dead_letter(letter)
            return letter
        result = translate(record, dict(self.mappings), self.max_bytes)
        if isinstance(result, DeadLetter):
            self.dead_letter(result)
            return result
        assert isinstance(result, CanonicalEvent)  # source mappings never skip
        return result, self.writer.apply([result])


def _operator_key(body: bytes) -> str | None:
    """The first object key that MongoDB would read as an operator or a path, if the body has one."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None  # translate() reports it with the decoder's own message
    stack: list[tuple[Any, int]] = [(payload, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return None
        if isinstance(value, dict):
            for key, inner in value.items():
                if key.startswith("$") or "." in key:
                    return key
                stack.append((inner, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return None
