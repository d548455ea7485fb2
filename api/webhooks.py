"""Events POSTed by webhook sources (a Zendesk-style ticket webhook is the example): the body is mapped
by the same mapping file entry as the Kafka topic of that name, into the same canonical event, applied
by the same writer (with the configured identity rules and matching); what fails goes to the same
dead-letter topic with its reason and original bytes.

`ingest` blocks (a MongoDB transaction, a Kafka acknowledgement): the route runs it in the thread pool.
A body with a `$`-prefixed or dotted field name anywhere is refused outright (`operator_key`), even where
the mapping would not read it: a caller on the network sending operators is probing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ingest import bounded_json
from ingest.events import CanonicalEvent
from ingest.mappings import SourceMapping
from ingest.records import MAX_ERROR_CHARS, DeadLetter, Skipped, SourceRecord, internal_letter, translate
from operational.port import ApplyResult, EventWriter, StoreClosed, StoreError, StoreUnreachable, aborted

# Each attempt is the writer's own few transaction attempts; ~2 s of backoff in all.
WRITE_ATTEMPTS = 8


class StoreUnavailable(RuntimeError):
    """MongoDB did not answer (or aborted the transaction): nothing was applied; the caller may retry."""


@dataclass
class WebhookIngest:
    mappings: dict[str, SourceMapping]
    writer: EventWriter
    dead_letter: Callable[[DeadLetter], None]
    max_bytes: int = 1_000_000

    def accepts(self, topic: str) -> bool:
        return topic in self.mappings

    def ingest(self, topic: str, body: bytes) -> tuple[CanonicalEvent, ApplyResult] | DeadLetter:
        """The event and what applying it did, or the dead letter it became (already sent)."""
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        record = SourceRecord(topic, -1, -1, None, body, now_ms)
        outcome = self._translate(record)
        if isinstance(outcome, CanonicalEvent):
            applied = self._apply(record, outcome)
            if isinstance(applied, ApplyResult):
                return outcome, applied
            outcome = applied
        self.dead_letter(outcome)
        return outcome

    def _translate(self, record: SourceRecord) -> CanonicalEvent | DeadLetter:
        operator = operator_key(record.value or b"", self.max_bytes)
        if operator is not None:
            message = "field names may not start with $ or hold a dot"
            return DeadLetter(record, "operator_key", operator, message)
        try:
            result = translate(record, dict(self.mappings), self.max_bytes)
        except Exception as exc:  # the last resort, as in the ingest loop
            return internal_letter(record, exc)
        assert not isinstance(result, Skipped)  # source mappings never skip
        return result

    def _apply(self, record: SourceRecord, event: CanonicalEvent) -> ApplyResult | DeadLetter:
        """Transactions that keep conflicting (many bodies about one customer at once) are tried again
        for a few seconds, then answered 503 so the caller retries; nothing was applied."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return self.writer.apply([event])
            except (StoreUnreachable, StoreClosed) as exc:
                raise StoreUnavailable(f"MongoDB is not available ({type(exc).__name__})") from None
            except StoreError as exc:
                if not aborted(exc):
                    message = f"MongoDB refused the event: {exc}"[:MAX_ERROR_CHARS]
                    return DeadLetter(record, "store", "$", message)
                if attempt == WRITE_ATTEMPTS:
                    raise StoreUnavailable(f"MongoDB aborted the write ({type(exc).__name__})") from None
                time.sleep(random.uniform(0, 0.05 * attempt))
            except Exception as exc:
                return internal_letter(record, exc)
        raise AssertionError("unreachable")


def operator_key(body: bytes, max_bytes: int) -> str | None:
    """The path of the first field name MongoDB would read as an operator or a path, if any. Depth is
    bounded by the parser (ingest/bounded_json.py), so every level is looked at."""
    try:
        payload = bounded_json.loads(bounded_json.text_of(body, max_bytes))
    except bounded_json.JsonRefused:
        return None  # translate() reports it with the decoder's own message
    stack: list[tuple[Any, str]] = [(payload, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, inner in value.items():
                where = f"{path}.{key}" if path else key
                if key.startswith("$") or "." in key:
                    return where[:200]
                stack.append((inner, where))
        elif isinstance(value, list):
            stack.extend((item, f"{path}.{n}" if path else str(n)) for n, item in enumerate(value))
    return None
