"""A batch MongoDB keeps aborting as a whole is written in halves, not retried unchanged for ever.

Seen in the 1M-event benchmark: at ~500k events one batch's transaction aborted with a WriteConflict on
every attempt (it outgrew the 0.5 GB cache) and ingest stood still. The abort is reproduced here by a
writer that refuses batches above a size with the error MongoDB returned (code 112, labelled
TransientTransactionError); everything else is the real writer on the suite's MongoDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import OperationFailure

from c360.durable_apply import WriteResult, apply_durably
from ingest.events import CanonicalEvent, build_event
from operational.reads import ProfileReader
from operational.store import Store
from operational.writer import ApplyResult, ProfileWriter

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 1, tzinfo=UTC)


class CacheBoundWriter:
    """The real writer behind MongoDB's answer to a transaction too large for its cache."""

    def __init__(self, writer: ProfileWriter, limit: int) -> None:
        self._writer, self._limit = writer, limit
        self.sizes: list[int] = []

    def apply(self, events: Sequence[CanonicalEvent]) -> ApplyResult:
        self.sizes.append(len(events))
        if len(events) > self._limit:
            raise OperationFailure(
                "WriteConflict error: this operation conflicted with another operation.",
                112,
                {"errorLabels": ["TransientTransactionError"], "code": 112, "codeName": "WriteConflict"},
            )
        return self._writer.apply(events)


def test_a_batch_that_keeps_aborting_is_written_in_halves(store: Store) -> None:
    events = [
        build_event(
            event_id=f"h{n}",
            source="test",
            type="order",
            occurred_at=T0 + timedelta(minutes=n),
            identifiers=[{"type": "email", "value": f"p{n % 3}@x.com"}],
        )
        for n in range(10)
    ]
    good = [(n, e) for n, e in enumerate(events)]
    writer = CacheBoundWriter(ProfileWriter(store), limit=3)
    written = apply_durably(writer, good, lambda: False)
    assert written == WriteResult(applied=10, duplicates=0, suppressed=0, refused=[])
    assert writer.sizes == [10, 5, 2, 3, 5, 2, 3]  # halves of halves until each fits, in order
    reader = ProfileReader(store)
    assert [reader.lookup("email", f"p{k}@x.com")["event_count"] for k in range(3)] == [4, 3, 3]
