"""The demo: a generated world published to the local broker, ingested, and ready to look up.

Each run starts clean (its database dropped, its topics recreated, a fresh consumer group), so the
numbers it prints are this run's. The ingest keeps running after the world is in, so events published
later (by `c360 world publish`, say) reach the profiles while the API serves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.errors import UnknownTopicOrPartitionError

from c360.bootstrap import ingest_loop
from c360.ingest_loop import BatchOutcome, LoopTotals
from c360.kafka_clients import client_config
from c360.publish import ensure_topics, publish
from c360.settings import Settings
from c360.world import TOPICS, World
from operational.store import Store


@dataclass(frozen=True)
class Example:
    label: str
    type: str
    value: str
    expected_events: int


def reset(settings: Settings) -> None:
    """Drop the demo database and recreate its topics, so a rerun does not count old messages."""
    store = Store.open(settings.mongo.uri, settings.mongo.database)
    try:
        store.drop()
    finally:
        store.close()
    topics = [*TOPICS, settings.kafka.dead_letter_topic]
    admin = KafkaAdminClient(**client_config(settings.kafka), client_id="c360-demo")
    try:
        present = [t for t in topics if t in set(admin.list_topics())]
        if present:
            with suppress(UnknownTopicOrPartitionError):
                admin.delete_topics(present)
            _wait_until(lambda: not set(present) & set(admin.list_topics()), "topics to be deleted")
    finally:
        admin.close()
    ensure_topics(settings.kafka, topics)


def publish_world(world: World, settings: Settings, progress: bool) -> int:
    return publish(world.messages, settings.kafka, progress=progress)


class BackgroundIngest:
    """An ingest loop on its own thread; `wait_for(n)` blocks until n records are committed."""

    def __init__(self, settings: Settings, on_batch: Callable[[LoopTotals], None]) -> None:
        self._settings = settings
        self._on_batch = on_batch
        self._stop = threading.Event()
        self._committed = threading.Condition()
        self._totals = LoopTotals()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="c360-ingest", daemon=True)

    def start(self) -> BackgroundIngest:
        self._thread.start()
        return self

    def wait_for(self, records: int) -> LoopTotals:
        with self._committed:
            self._committed.wait_for(lambda: self._totals.records >= records or self._error is not None)
        if self._error is not None:
            raise RuntimeError(f"ingest failed: {self._error}") from self._error
        return self._totals

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            with ingest_loop(self._settings, on_batch=self._batch_done) as loop:
                self._totals = loop.totals
                loop.run(self._stop)
        except BaseException as exc:  # reported to the waiting thread, which raises it
            self._error = exc
            with self._committed:
                self._committed.notify_all()

    def _batch_done(self, _: BatchOutcome) -> None:
        self._on_batch(self._totals)
        with self._committed:
            self._committed.notify_all()


def examples(world: World, count: int = 3) -> list[Example]:
    """A few people with identifiers of different types, to show lookups that stitch sources."""
    chosen: list[Example] = []
    for person in world.people:
        if person.web_only or len(chosen) >= count:
            continue
        events = sum(world.expected_profile(person).counts.values())
        kind = ("email", person.emails[0]), ("phone", person.phones[-1]), ("account_id", person.accounts[0])
        label = f"{person.first_name} {person.last_name}"
        chosen.append(Example(label, *kind[len(chosen) % len(kind)], events))
    return chosen


def _wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)
