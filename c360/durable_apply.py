"""Applying a batch of events until MongoDB holds them: retried while it is unreachable, written in
halves while its transactions keep aborting, and event by event when it refuses some, whose refusals
are handed back with their origin and reason for the caller's dead letter. A writer that fails on an
event for any other reason (a bug) must not stop ingest either: that event is an `internal` refusal.

Shared by the Kafka ingest loop (c360/ingest_loop.py), whose events come from records, and file imports
(c360/file_import.py), whose events come from rows: the origin is whatever the caller paired each
event with.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ingest.events import CanonicalEvent
from ingest.records import MAX_ERROR_CHARS
from operational.port import REFUSED_BY_STORE, EventWriter, StoreClosed, StoreUnreachable, aborted

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class WriteResult(Generic[T]):
    """What writing a batch did; `refused`: each event refused, as (origin, reason, message); the reason is
    `store` (MongoDB or BSON refused it) or `internal` (the writer failed on it)."""

    applied: int = 0
    duplicates: int = 0
    suppressed: int = 0
    refused: list[tuple[T, str, str]] = field(default_factory=list)

    def __add__(self, other: WriteResult[T]) -> WriteResult[T]:
        return WriteResult(
            self.applied + other.applied,
            self.duplicates + other.duplicates,
            self.suppressed + other.suppressed,
            self.refused + other.refused,
        )


def apply_durably(
    writer: EventWriter, good: list[tuple[T, CanonicalEvent]], stopping: Callable[[], bool]
) -> WriteResult[T]:
    """Retry while MongoDB is unreachable (never skip) unless `stopping()`; isolate refused events."""
    delay = 0.5
    while True:
        try:
            result = writer.apply([event for _, event in good])
            return WriteResult(result.applied, result.duplicates, result.suppressed)
        except StoreClosed:  # the client was closed: the process is stopping, not the event's fault
            raise
        except REFUSED_BY_STORE as exc:
            transient = aborted(exc)
            if not (transient or isinstance(exc, StoreUnreachable)):
                return _refused(writer, good, stopping, "store", f"MongoDB refused the event: {exc}")
            if stopping():
                raise
            if transient and len(good) > 1:
                # Seen at 500k events: a batch whose transaction outgrew MongoDB's cache aborted as a
                # WriteConflict on every attempt, and the loop retried it unchanged for ever.
                log.warning("a batch of %d kept aborting (%s); writing it in halves", len(good), exc)
                half = len(good) // 2
                first = apply_durably(writer, good[:half], stopping)
                return first + apply_durably(writer, good[half:], stopping)
            log.error("MongoDB unavailable (%s); retrying the batch in %.1fs", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
        except Exception as exc:
            log.exception("the writer failed on a batch of %d events", len(good))
            return _refused(writer, good, stopping, "internal", f"{type(exc).__name__}: {exc}")


def _refused(
    writer: EventWriter,
    good: list[tuple[T, CanonicalEvent]],
    stopping: Callable[[], bool],
    reason: str,
    message: str,
) -> WriteResult[T]:
    """A single event refused is handed back; a batch is written event by event to find which."""
    if len(good) == 1:
        return WriteResult(refused=[(good[0][0], reason, message[:MAX_ERROR_CHARS])])
    log.warning("a batch of %d was refused (%s); isolating it event by event", len(good), message[:200])
    total: WriteResult[T] = WriteResult()
    for pair in good:
        total += apply_durably(writer, [pair], stopping)
    return total
