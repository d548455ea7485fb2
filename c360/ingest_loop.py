"""The ingest loop: poll a micro-batch, make its effects durable in MongoDB, then commit offsets.

Order per batch is what makes it lossless: translate every record (bad ones become dead letters),
apply the events in one MongoDB transaction, wait for the dead letters to be acknowledged, and only then
commit the Kafka offsets. A crash anywhere before the commit re-delivers the batch, and the writer's
event-id check makes the second application a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata, TopicPartition

from c360.dead_letters import DeadLetterSink
from c360.durable_apply import WriteResult, apply_durably
from ingest import metrics
from ingest.events import CanonicalEvent
from ingest.mappings import SourceMapping, TableMapping
from ingest.records import DeadLetter, Skipped, SourceRecord, internal_letter, translate
from operational.port import EventWriter
from operational.workers import WorkerRegistry

log = logging.getLogger(__name__)
HEARTBEAT_EVERY_S = 1.0
# Between short polls the loop checks whether the batch in flight is written, to commit it at once.
POLL_SLICE_MS = 20


Translated = tuple[SourceRecord, CanonicalEvent]


def source_record(record: ConsumerRecord) -> SourceRecord:
    """What translation needs of a Kafka record."""
    return SourceRecord(
        record.topic, record.partition, record.offset, record.key, record.value, record.timestamp
    )


@dataclass
class _InFlight:
    """A batch handed to the writer thread, kept until its offsets are committed."""

    records: list[SourceRecord]
    good: list[Translated]
    letters: list[DeadLetter]
    skipped: int
    write: Future[tuple[WriteResult[SourceRecord], float]]
    started: float


@dataclass
class LoopTotals:
    records: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    # Records with nothing to apply (Debezium tombstones and logical messages).
    skipped: int = 0
    # Events of erased people, dropped (operational/suppression.py).
    suppressed: int = 0

    def add(self, other: LoopTotals) -> None:
        self.records += other.records
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.dead_letters += other.dead_letters
        self.skipped += other.skipped
        self.suppressed += other.suppressed


@dataclass
class BatchOutcome(LoopTotals):
    """One committed batch: its counts, and per record the seconds from Kafka timestamp to durable."""

    freshness_s: list[float] = field(default_factory=list)


class IngestLoop:
    def __init__(
        self,
        consumer: KafkaConsumer,
        mappings: dict[str, SourceMapping | TableMapping],
        writer: EventWriter,
        dead_letters: DeadLetterSink,
        *,
        batch_size: int,
        batch_timeout_ms: int,
        max_message_bytes: int,
        workers: WorkerRegistry | None = None,
        on_batch: Callable[[BatchOutcome], None] | None = None,
    ) -> None:
        self._consumer = consumer
        self._mappings = mappings
        self._writer = writer
        self._dead_letters = dead_letters
        self._batch_size = batch_size
        self._batch_timeout_ms = batch_timeout_ms
        self._max_bytes = max_message_bytes
        self._workers = workers
        self._on_batch = on_batch
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.totals = LoopTotals()
        self._last_beat = 0.0
        # One writer thread: MongoDB work of batch N overlaps polling and translating batch N+1, while
        # batches still apply in order and offsets are committed only from this (the polling) thread.
        self._abandoned = threading.Event()
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="c360-writer")
        self._in_flight: _InFlight | None = None

    def run(self, stop: threading.Event) -> LoopTotals:
        """Consume until `stop` is set; the batch in flight is committed before returning."""
        while not stop.is_set():
            self.step(stop)
        return self.totals

    def abandon(self) -> None:
        """Give up the write in flight once its client is gone: its offsets stay uncommitted, so the
        batch is re-delivered. Seen without it: a benchmark stopped by SIGTERM closed the store under its
        writer thread, which retried 'Cannot use MongoClient after close' for an hour, keeping the process
        and its mongod alive. Now the write ends after the writer's few transaction attempts."""
        self._abandoned.set()
        self._writes.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Commit the batch in flight (a graceful stop re-delivers nothing) and leave the registry."""
        try:
            self.drain()
        finally:
            self._writes.shutdown(wait=True)
            if self._workers is not None:
                self._workers.leave(self.worker_id)

    def step(self, stop: threading.Event | None = None) -> None:
        """Poll and translate the next batch while the previous one is being written.

        The batch in flight is committed as soon as its write finishes (checked between short polls),
        so pipelining adds no latency; batches still apply in order, one at a time.
        """
        records = self._poll(stop)
        translated = self._translate(records)
        self.drain(stop)
        if records:
            write = self._writes.submit(self._timed_apply, translated[0], stop)
            self._in_flight = _InFlight(records, *translated, write, time.monotonic())
        self._beat()

    def drain(self, stop: threading.Event | None = None) -> None:
        """Wait for the batch in flight, dead-letter what was refused, and commit its offsets."""
        batch, self._in_flight = self._in_flight, None
        if batch is None:
            return
        written, durable_ms = batch.write.result()
        letters = batch.letters + [DeadLetter(r, reason, "$", why) for r, reason, why in written.refused]
        for letter in letters:
            self._dead_letters.send(letter)
            log.warning(
                "dead letter %s[%d]@%d: %s (%s)",
                letter.record.topic,
                letter.record.partition,
                letter.record.offset,
                letter.message,
                letter.reason,
            )
        self._dead_letters.flush()
        self._commit(batch.records)
        freshness = [(durable_ms - r.timestamp_ms) / 1000 for r, _ in batch.good]
        self._observe(batch.records, letters, freshness, time.monotonic() - batch.started)
        outcome = BatchOutcome(
            records=len(batch.records),
            applied=written.applied,
            duplicates=written.duplicates,
            dead_letters=len(letters),
            skipped=batch.skipped,
            suppressed=written.suppressed,
            freshness_s=freshness,
        )
        self.totals.add(outcome)
        if self._on_batch is not None:
            self._on_batch(outcome)

    def _poll(self, stop: threading.Event | None) -> list[SourceRecord]:
        """Fill a batch while the writer is busy; hand it over as soon as the writer is free.

        Self-clocking group commit: under light load a batch is what one short poll brings (low latency),
        under heavy load it grows to what arrived during the previous write (up to the batch size), so
        no record waits for a timer. The batch timeout only bounds how long an empty poll loop runs.
        """
        records: list[SourceRecord] = []
        deadline = time.monotonic() + self._batch_timeout_ms / 1000
        while len(records) < self._batch_size:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            polled = self._consumer.poll(
                timeout_ms=min(remaining_ms, POLL_SLICE_MS), max_records=self._batch_size - len(records)
            )
            for batch in polled.values():
                records += [source_record(r) for r in batch]
            if self._in_flight is not None and self._in_flight.write.done():
                self.drain(stop)
            if records and (self._in_flight is None or not polled):
                break
        return records

    def _translate(self, records: list[SourceRecord]) -> tuple[list[Translated], list[DeadLetter], int]:
        good: list[Translated] = []
        letters: list[DeadLetter] = []
        skipped = 0
        for record in records:
            try:
                result = translate(record, self._mappings, self._max_bytes)
            except Exception as exc:  # a bug, not the record's fault: still never a reason to stop
                log.exception("translating %s[%d]@%d failed", record.topic, record.partition, record.offset)
                result = internal_letter(record, exc)
            if isinstance(result, DeadLetter):
                letters.append(result)
            elif isinstance(result, Skipped):
                skipped += 1
            else:
                good.append((record, result))
        return good, letters, skipped

    def _timed_apply(
        self, good: list[Translated], stop: threading.Event | None
    ) -> tuple[WriteResult[SourceRecord], float]:
        """Runs on the writer thread; stamps when the profiles became durable (and readable)."""
        result = self._apply(good, stop)
        return result, time.time() * 1000

    def _apply(self, good: list[Translated], stop: threading.Event | None) -> WriteResult[SourceRecord]:
        return apply_durably(
            self._writer, good, lambda: self._abandoned.is_set() or (stop is not None and stop.is_set())
        )

    def _commit(self, records: list[SourceRecord]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            offsets[tp] = max(offsets.get(tp, -1), r.offset + 1)
        try:
            self._consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
        except CommitFailedError as exc:
            # The group rebalanced mid-batch: the new owner re-reads these records and the writer's
            # event-id check turns them into no-ops, so nothing is lost or counted twice.
            log.warning("offset commit refused after a rebalance (%s); records will be re-read", exc)

    def _observe(
        self, records: list[SourceRecord], letters: list[DeadLetter], freshness: list[float], seconds: float
    ) -> None:
        metrics.BATCH_SECONDS.observe(seconds)
        for value in freshness:
            metrics.FRESHNESS_SECONDS.observe(value)
        handled = Counter(r.topic for r in records)
        refused = Counter(lt.record.topic for lt in letters)
        for topic, count in handled.items():
            metrics.RECORDS.labels(topic, "ok").inc(count - refused[topic])
        for topic, count in refused.items():
            metrics.RECORDS.labels(topic, "dead_letter").inc(count)

    def _beat(self) -> None:
        now = time.monotonic()
        if self._workers is None or now - self._last_beat < HEARTBEAT_EVERY_S:
            return
        self._last_beat = now
        lag = 0
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            behind = max(highwater - self._consumer.position(tp), 0)
            metrics.LAG.labels(tp.topic, str(tp.partition)).set(behind)
            lag += behind
        self._workers.beat(
            self.worker_id,
            {
                "group": self._consumer.config["group_id"],
                "assignment": sorted(f"{tp.topic}[{tp.partition}]" for tp in self._consumer.assignment()),
                "lag": lag,
                "records": self.totals.records,
                "applied": self.totals.applied,
                "dead_letters": self.totals.dead_letters,
            },
        )
