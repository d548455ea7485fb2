"""The profile writer followed by probabilistic matching: the ingest loop's writer when a match model
is configured. Deterministic rules place every event first (operational/writer.py); then events that
carry person fields (`attributes.person`) are matched through the blocking index, so a point-of-sale
record with a typo'd name joins the customer's profile or opens a review item.

Matching runs after the batch commits and before the ingest loop commits Kafka offsets: a crash in
between redelivers the batch, the writer skips its events as duplicates, and matching resumes with the
records not yet indexed.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingest.events import CanonicalEvent
from operational.match_store import MatchService
from operational.writer import ApplyResult, ProfileWriter


class ResolvingWriter:
    def __init__(self, writer: ProfileWriter, matcher: MatchService) -> None:
        self._writer = writer
        self._matcher = matcher

    def apply(self, events: Sequence[CanonicalEvent]) -> ApplyResult:
        result = self._writer.apply(events)
        people = {
            e.event_id: e.attributes["person"] for e in events if isinstance(e.attributes.get("person"), dict)
        }
        if people:
            self._matcher.match_events(people)
        return result
