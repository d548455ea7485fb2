"""The activation process: MongoDB change streams (profiles, identity events) to the outbound Kafka
topics, real-time segment evaluation of every changed profile, and the sweeper for window boundaries.

One step: take what each stream has ready (read ahead by sync/feed.py's `ChangeFeed`), turn each
change into its records (activation/messages.py) and evaluate the real-time segments of each live
profile (activation/membership.py; of a profile changed several times in the step, its newest version
only: an older one's conditional write could only miss). Send the records, wait until Kafka
acknowledges every one, write the changed memberships (each a conditional update, whose own change
brings its segment changes out on a later step), and only then store each stream's resume token
(activation/positions.py). A crash anywhere before the token is stored sends those records again with
the same idempotency keys: at least once, in change order, which is per profile order since one
profile's records share a key.

The sweeper re-evaluates profiles whose `activation.next_boundary` has passed, so a profile enters or
leaves a windowed segment on time without any new event.

A first start (no stored position) streams from the current majority-committed time and evaluates every
live profile once, so that memberships exist for profiles written before activation ran.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer
from pymongo import UpdateOne

from activation import metrics
from activation.membership import RealtimeSegment, due_filter, evaluate
from activation.messages import IDEMPOTENCY_HEADER, Outbound, Render, identity_messages, profile_messages
from activation.positions import Positions, watch_from
from operational.store import Store
from sync.convert import change_time
from sync.feed import ChangeFeed
from sync.stream import CHANGE_FIELDS

log = logging.getLogger(__name__)

AWAIT_MS = 20
FEED_AHEAD = 1_000
SWEEP_LIMIT = 1_000  # profiles re-evaluated per sweep; a backlog continues on the next one
STREAMS = ("profiles", "identity_events")


@dataclass
class StepReport:
    """What one step did, for the status display and benchmarks."""

    changes: dict[str, int] = field(default_factory=dict)
    records: int = 0
    written: int = 0
    swept: int = 0
    lags_s: list[float] = field(default_factory=list)
    sent: list[Outbound] = field(default_factory=list, repr=False)


class Activation:
    def __init__(
        self,
        store: Store,
        producer: KafkaProducer,
        topics: dict[str, str],
        segments: list[RealtimeSegment],
        render: Render,
        *,
        batch_size: int = 500,
        sweep_every_s: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # Profiles are updated in place: each update's change needs the document as it was right after.
        store.db.command("collMod", "profiles", changeStreamPreAndPostImages={"enabled": True})
        store.profiles.create_index("activation.next_boundary", sparse=True, name="activation_next_boundary")
        self._store = store
        self._producer = producer
        self._topics = topics
        self._segments = segments
        self._render = render
        self._batch = batch_size
        self._sweep_every = sweep_every_s
        self._clock = clock
        self._positions = Positions(store)
        hello = store.client.admin.command("hello")
        for name in STREAMS:  # a first start: from now on
            self._positions.start(name, hello["lastWrite"]["majorityOpTime"]["ts"])
        positions = {name: self._positions.load(name) or {} for name in STREAMS}
        self._feeds = {name: self._open(name, watch_from(positions[name])) for name in STREAMS}
        self._swept_at = 0.0
        if not positions["profiles"].get("backfilled"):
            self.backfill()
            self._positions.backfilled("profiles")

    def _open(self, collection: str, position: dict[str, Any]) -> ChangeFeed:
        stream = self._store.db[collection].watch(
            [{"$project": dict.fromkeys(CHANGE_FIELDS, 1)}],
            full_document="whenAvailable" if collection == "profiles" else None,
            max_await_time_ms=AWAIT_MS,
            batch_size=self._batch,
            **position,
        )
        return ChangeFeed(stream, FEED_AHEAD, f"activation-{collection}")

    def step(self) -> StepReport:
        report = StepReport()
        now = self._clock()
        records: list[Outbound] = []
        writes: list[UpdateOne] = []
        last: dict[str, Any] = {}
        times = []
        for name, feed in self._feeds.items():
            changes = []
            while len(changes) < self._batch:
                change = feed.take(AWAIT_MS / 1000 if not changes else 0)
                if change is None:
                    break
                changes.append(change)
            report.changes[name] = len(changes)
            if not changes:
                continue
            last[name] = changes[-1]["_id"]
            times += [change_time(c) for c in changes]
            if name == "identity_events":
                records += [r for c in changes for r in identity_messages(c)]
                continue
            newest = _newest_live(changes)
            for change in changes:
                records += profile_messages(change, self._render)
            docs = [changes[i]["fullDocument"] for i in sorted(newest)]
            writes += self._evaluations(docs, now, "change")
        self._send(records)
        if writes:
            self._store.profiles.bulk_write(writes, ordered=False)
        for name, token in last.items():
            self._positions.save(name, token)
        done = datetime.now(UTC)
        report.lags_s = [(done - t).total_seconds() for t in times if t is not None]
        for name in last:
            if report.lags_s:
                metrics.LAST_LAG.labels(name).set(max(report.lags_s))
        for lag in report.lags_s:
            metrics.LAG_SECONDS.labels("profiles").observe(lag)
        report.records, report.written, report.sent = len(records), len(writes), records
        if time.monotonic() - self._swept_at >= self._sweep_every:
            report.swept = self.sweep()
            self._swept_at = time.monotonic()
        return report

    def sweep(self) -> int:
        """Re-evaluate the profiles whose next window boundary has passed; how many were evaluated."""
        now = self._clock()
        due = list(self._store.profiles.find(due_filter(now), limit=SWEEP_LIMIT))
        writes = self._evaluations(due, now, "sweep")
        if writes:
            self._store.profiles.bulk_write(writes, ordered=False)
        return len(due)

    def backfill(self) -> int:
        """Evaluate every live profile once (a first start); how many memberships were written."""
        now, written, batch = self._clock(), 0, []
        for doc in self._store.profiles.find({"merged_into": {"$exists": False}}):
            batch += self._evaluations([doc], now, "backfill")
            if len(batch) >= self._batch:
                self._store.profiles.bulk_write(batch, ordered=False)
                written, batch = written + len(batch), []
        if batch:
            self._store.profiles.bulk_write(batch, ordered=False)
        return written + len(batch)

    def close(self) -> None:
        for feed in self._feeds.values():
            feed.close()

    def _evaluations(self, docs: list[dict[str, Any]], now: datetime, trigger: str) -> list[UpdateOne]:
        writes = []
        for doc in docs:
            update = evaluate(doc, self._segments, now).update
            metrics.EVALUATIONS.labels(trigger, "same" if update is None else "written").inc()
            if update is not None:
                writes.append(UpdateOne(*update))
        return writes

    def _send(self, records: list[Outbound]) -> None:
        """Send in order and wait for Kafka's acknowledgement of every record; raise if one failed."""
        futures = [
            self._producer.send(
                self._topics[r.stream],
                key=r.key.encode(),
                value=r.value_bytes(),
                headers=[(IDEMPOTENCY_HEADER, r.idempotency_key.encode())],
            )
            for r in records
        ]
        if not futures:
            return
        self._producer.flush()
        for record, future in zip(records, futures, strict=True):
            future.get(timeout=0)
            metrics.RECORDS.labels(self._topics[record.stream]).inc()


def _newest_live(changes: list[dict[str, Any]]) -> set[int]:
    """Positions of the last live post-image of each profile in `changes`: the versions evaluated (an
    earlier one of the same profile is superseded within the batch)."""
    newest: dict[Any, int] = {}
    for i, change in enumerate(changes):
        doc = change.get("fullDocument")
        if doc is not None and "merged_into" not in doc:
            newest[change["documentKey"]["_id"]] = i
    return set(newest.values())
