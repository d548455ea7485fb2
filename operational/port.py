"""The storage room's port: the writer the entrypoints drive and the failures they tell apart.

The ingest loop and the webhooks hand events to an `EventWriter` and sort what it raises into a few
kinds (the client closed, MongoDB unreachable, a transaction aborted as a whole, an event MongoDB or
the BSON encoder refuses); the API answers a refused command. They name these kinds here, so that
pymongo stays inside operational/ (.importlinter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bson.errors import BSONError
from pymongo.errors import ConnectionFailure, InvalidOperation, OperationFailure, PyMongoError

from ingest.events import CanonicalEvent
from operational.writer import TRANSIENT, ApplyResult

StoreError = PyMongoError  # anything the driver raised
StoreClosed = InvalidOperation  # the client was closed: the process is stopping, not the event's fault
StoreUnreachable = ConnectionFailure
CommandRefused = OperationFailure  # the server answered and refused (unauthorized, invalid, ...)
# What MongoDB or the BSON encoder refuse in an event itself (not a passing outage): dead-letter it.
REFUSED_BY_STORE = (PyMongoError, BSONError, OverflowError)

__all__ = [
    "REFUSED_BY_STORE",
    "ApplyResult",
    "CommandRefused",
    "EventWriter",
    "StoreClosed",
    "StoreError",
    "StoreUnreachable",
    "aborted",
]


class EventWriter(Protocol):
    """The profile writer, or the resolving writer that runs probabilistic matching after it."""

    def apply(self, events: Sequence[CanonicalEvent]) -> ApplyResult: ...


def aborted(exc: BaseException) -> bool:
    """A transaction aborted as a whole: nothing was applied, and the same writes may succeed later."""
    return isinstance(exc, PyMongoError) and exc.has_error_label(TRANSIENT)
