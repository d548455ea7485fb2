"""The composition root: the only place that creates MongoDB and Kafka clients from settings, and that
builds every writer, identity editor and eraser, each with the configured identity rules."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from kafka import KafkaConsumer, KafkaProducer

from activation.delivery import Delivery, ReplayResult, replay
from activation.destinations import Destination, load_destinations
from activation.evaluate import Verdict, next_boundary, verdict
from activation.membership import RealtimeSegment
from activation.messages import COMPACTED, Render, topic_names
from activation.process import Activation
from api.app import ApiServices, create_app
from api.auth import KeyRing, digest, key_ring
from api.profile_body import profile_body
from api.webhooks import WebhookIngest
from c360.dead_letters import DeadLetterSink
from c360.file_import import FileImport, FileOutcome
from c360.ingest_loop import BatchOutcome, IngestLoop
from c360.kafka_clients import client_config
from c360.publish import ensure_topics
from c360.settings import ApiKeySettings, KafkaSettings, Settings, read_secret_file
from c360.storage import Location, location
from identity.matching.model import MatchModel
from identity.matching.schema import PERSON_SCHEMA
from identity.rules import IdentityRules
from ingest.file_rows import RowDeadLetter
from ingest.mappings import FileSource, SourceMapping, load_mapping_file
from ingest.records import DeadLetter
from lakehouse.exports import ExportResult, export_segments
from lakehouse.reconcile import RECONCILED, ReconcileReport, reconcile
from lakehouse.segments import Segment, load_segment_file, members_sql, memberships
from lakehouse.tables import Lakehouse
from operational.erasure import Eraser
from operational.identity_ops import IdentityEditor
from operational.import_checkpoints import COLLECTION as IMPORT_CHECKPOINTS
from operational.import_checkpoints import ImportCheckpoints
from operational.match_store import MatchService, MongoIndex
from operational.reads import ProfileReader
from operational.resolving_writer import ResolvingWriter
from operational.reviews import ReviewQueue
from operational.roles import Component
from operational.segment_writeback import WritebackResult, write_memberships
from operational.store import Store
from operational.users import ensure_roles, ensure_user
from operational.workers import WorkerRegistry
from operational.writer import ProfileWriter
from profiles.offers import load_offer_rules
from profiles.view import profile_view
from sync.runner import LakeSync
from sync.stream import OnCommit

log = logging.getLogger(__name__)


@contextmanager
def open_store(settings: Settings) -> Iterator[Store]:
    store = Store.open(settings.mongo.uri, settings.mongo.database)
    try:
        store.prepare()
        yield store
    finally:
        store.close()


@dataclass(frozen=True)
class SetupReport:
    topics: list[str]
    database: str
    users: list[str]


def setup(settings: Settings, partitions: int, passwords: dict[Component, Path]) -> SetupReport:
    """What must exist before the components start, made by an administrator; idempotent.

    Topics (the mapping file's and the dead-letter topic), MongoDB's collections and indexes (matching's
    too), and, for each component given a password file, its least-privilege role and user."""
    topics = [*ingest_topics(settings), settings.kafka.dead_letter_topic]
    ensure_topics(settings.kafka, topics, partitions)
    with open_store(settings) as store:
        MongoIndex(store).ensure_indexes()
        ReviewQueue(store).ensure_indexes()
        if passwords:
            ensure_roles(store.client, store.db.name)
        users = [
            ensure_user(store.client, store.db.name, part, read_secret_file(path, f"{part}'s password"))
            for part, path in passwords.items()
        ]
    return SetupReport(topics, settings.mongo.database, users)


def ingest_topics(settings: Settings) -> list[str]:
    """The configured topics, or every topic the mapping file knows."""
    mapping = load_mapping_file(settings.ingest.mapping_file)
    return settings.kafka.topics or list(mapping.for_topic())


def identity_rules(settings: Settings) -> IdentityRules:
    return IdentityRules.from_settings(settings.identity)


def identity_editor(settings: Settings, store: Store) -> IdentityEditor:
    """Manual merges and splits, and accepted reviews, under the configured rules (caps, merge types)."""
    return IdentityEditor(store, identity_rules(settings))


def eraser(settings: Settings, store: Store) -> Eraser:
    """Erasure under the configured rules (when a shared identifier saturates)."""
    return Eraser(store, identity_rules(settings))


def profile_writer(settings: Settings, store: Store) -> ProfileWriter | ResolvingWriter:
    """The writer with the configured identity rules, followed by matching when a model is configured:
    the same for Kafka ingest and webhooks."""
    identity = settings.identity
    writer = ProfileWriter(store, rules=identity_rules(settings))
    if identity.match_model is None:
        return writer
    model = MatchModel.from_json(PERSON_SCHEMA, json.loads(identity.match_model.read_text()))
    matcher = MatchService(store, model, identity.join_weight, identity.review_weight)
    store.prepare(matcher.ensure_indexes)
    return ResolvingWriter(writer, matcher)


@contextmanager
def ingest_loop(
    settings: Settings, on_batch: Callable[[BatchOutcome], None] | None = None
) -> Iterator[IngestLoop]:
    """A ready consumer-group member wired to the writer and the dead-letter topic; closes all on exit."""
    mapping = load_mapping_file(settings.ingest.mapping_file)
    kafka = settings.kafka
    with open_store(settings) as store:
        consumer = KafkaConsumer(
            *ingest_topics(settings),
            **client_config(kafka),
            group_id=kafka.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=kafka.session_timeout_ms,
            heartbeat_interval_ms=kafka.heartbeat_interval_ms,
            max_poll_records=settings.ingest.batch_size,
            fetch_max_wait_ms=kafka.fetch_max_wait_ms,
            max_partition_fetch_bytes=max(settings.ingest.max_message_bytes * 2, 1 << 20),
        )
        producer = KafkaProducer(**client_config(kafka), acks="all", linger_ms=5)
        dead_letters = DeadLetterSink(producer, kafka.dead_letter_topic)
        loop = IngestLoop(
            consumer,
            mapping.for_topic(),
            profile_writer(settings, store),
            dead_letters,
            batch_size=settings.ingest.batch_size,
            batch_timeout_ms=settings.ingest.batch_timeout_ms,
            max_message_bytes=settings.ingest.max_message_bytes,
            workers=WorkerRegistry(store),
            on_batch=on_batch,
        )
        try:
            yield loop
            loop.close()
        finally:
            loop.abandon()  # after close() a no-op; after an error, no write outlives the store
            consumer.close(autocommit=False)
            dead_letters.close()


class UnknownFileSource(ValueError):
    """`c360 import --source NAME` names no entry of the mapping file's `files`."""


def file_source(settings: Settings, name: str) -> FileSource:
    files = {f.name: f for f in load_mapping_file(settings.ingest.mapping_file).files}
    if name not in files:
        raise UnknownFileSource(f"the mapping file has no file source {name!r}; it has {sorted(files)}")
    return files[name]


class _RowDeadLetters:
    """The dead-letter topic for refused file rows; Kafka is only asked for once a row is refused."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._sink: DeadLetterSink | None = None

    def send_row(self, letter: RowDeadLetter, source: str) -> None:
        if self._sink is None:
            producer = KafkaProducer(**client_config(self._kafka), acks="all")
            self._sink = DeadLetterSink(producer, self._kafka.dead_letter_topic)
        self._sink.send_row(letter, source)

    def flush(self) -> int:
        return 0 if self._sink is None else self._sink.flush()

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()


@contextmanager
def file_import(
    settings: Settings, source_name: str, on_batch: Callable[[FileOutcome], None] | None = None
) -> Iterator[FileImport]:
    """An importer of the named file source wired to the writer, its checkpoints and the dead letters."""
    source = file_source(settings, source_name)
    with open_store(settings) as store:
        dead_letters = _RowDeadLetters(settings.kafka)
        importer = FileImport(
            source,
            profile_writer(settings, store),
            dead_letters,
            ImportCheckpoints(store.db[IMPORT_CHECKPOINTS]),
            batch_rows=settings.ingest.batch_size,
            max_bytes=settings.ingest.max_message_bytes,
            on_batch=on_batch,
        )
        try:
            yield importer
        finally:
            importer.close()  # waits for the batch in flight before the store closes
            dead_letters.close()


@contextmanager
def api_app(settings: Settings) -> Iterator[FastAPI]:
    """The REST API wired to the configured MongoDB, keys, offer rules and webhook ingest."""
    kafka = settings.kafka
    keys = api_keys(settings)  # before any connection: without keys the API does not start at all
    with open_store(settings) as store, ExitStack() as stack:

        def dead_letter(letter: DeadLetter) -> None:
            """Sent synchronously (from a pool thread), so that a 422 means the body is in the dead-letter
            topic; one at a time, so that each request waits for its own acknowledgement."""
            with sending:
                if not sinks:  # Kafka is only needed once a webhook body is refused
                    producer = KafkaProducer(**client_config(kafka), acks="all")
                    sinks.append(DeadLetterSink(producer, kafka.dead_letter_topic))
                    stack.callback(sinks[0].close)
                sinks[0].send(letter)
                sinks[0].flush()

        sinks: list[DeadLetterSink] = []
        sending = threading.Lock()
        mappings = load_mapping_file(settings.ingest.mapping_file).for_topic()
        webhooks = WebhookIngest(
            {t: m for t, m in mappings.items() if isinstance(m, SourceMapping)},
            profile_writer(settings, store),
            dead_letter,
            settings.ingest.max_message_bytes,
        )
        services = ApiServices(
            keys,
            offer_rules=load_offer_rules(settings.api.offers_file),
            webhooks=webhooks,
            identity_editor=identity_editor(settings, store),
            eraser=eraser(settings, store),
            max_body_bytes=settings.api.max_body_bytes,
        )
        yield create_app(store, services)


def api_keys(settings: Settings) -> KeyRing:
    """The API's callers; raises NoApiKeys when there are none outside development mode."""
    keys = key_ring(
        [(k.name, _key_digest(k), k.role, k.pii) for k in settings.api.keys], settings.development
    )
    if keys.open:
        log.warning("development mode without api.keys: the API is open and every caller is admin")
    return keys


def _key_digest(key: ApiKeySettings) -> bytes:
    if key.key_sha256 is not None:
        return bytes.fromhex(key.key_sha256)
    assert key.key is not None  # the settings ask for one of the two
    return digest(key.key.get_secret_value())


def lake_location(settings: Settings) -> Location:
    """lake.path, local or on an object store, with lake.storage's options (and the AWS_* variables)."""
    return location(settings.lake.path, settings.lake.storage)


@contextmanager
def lake_sync(settings: Settings, on_commit: OnCommit = lambda _: None) -> Iterator[LakeSync]:
    """The change-stream sync from the configured MongoDB into the Delta tables under lake.path, holding
    the lake's lease until it ends."""
    with open_store(settings) as store:
        sync = LakeSync(store, settings.lake, on_commit)
        try:
            yield sync
        finally:
            sync.release()


def reconcile_lake(settings: Settings) -> ReconcileReport:
    """Profiles recomputed from the lake's events, diffed against the configured MongoDB."""
    with open_store(settings) as store:
        return reconcile(Lakehouse(lake_location(settings)).duckdb(), store.live_profiles(RECONCILED))


def apply_segments(settings: Settings) -> WritebackResult:
    """Evaluate the segments file now and write each live profile's membership to MongoDB."""
    segments = load_segment_file(settings.lake.segments_file).segments
    with open_store(settings) as store:
        return write_memberships(store, memberships(Lakehouse(lake_location(settings)).duckdb(), segments))


def export_day(settings: Settings, day: date) -> ExportResult:
    """Every segment's audience as of the end of `day` (UTC), under lake.exports_path/<day>/."""
    segments = load_segment_file(settings.lake.segments_file).segments
    end = datetime.combine(day + timedelta(days=1), time(), UTC)
    lake = Lakehouse(lake_location(settings), as_of=end, travel=end <= datetime.now(UTC))
    exports = location(settings.lake.exports_path, settings.lake.storage)
    return export_segments(lake.duckdb(), segments, day, exports)


def realtime_segments(settings: Settings) -> list[RealtimeSegment]:
    """The segments of lake.segments_file defined by a `rule` (the others are lake-only); none without
    the file."""
    path = settings.lake.segments_file
    if not path.exists():
        log.warning("%s does not exist: no real-time segments", path)
        return []
    segments = load_segment_file(path).segments
    return [RealtimeSegment(s.name, s.rule) for s in segments if s.rule is not None]


def activation_producer(settings: Settings) -> KafkaProducer:
    """Acknowledged by every in-sync replica, one request in flight per broker: a retried batch can
    never overtake the next one, so each profile's records stay in order."""
    return KafkaProducer(
        **client_config(settings.kafka), acks="all", linger_ms=2, max_in_flight_requests_per_connection=1
    )


@contextmanager
def activation(settings: Settings) -> Iterator[Activation]:
    """The activation process on the configured MongoDB and Kafka, its topics created first (c360.profiles
    compacted), with a delivery thread per HTTP destination, stopped on exit."""
    segments, receivers = realtime_segments(settings), destinations(settings)  # a bad file fails first
    topics = topic_names(settings.activation.topic_prefix)
    compact = {topics[stream]: {"cleanup.policy": "compact"} for stream in COMPACTED}
    ensure_topics(settings.kafka, list(topics.values()), settings.activation.partitions, compact)
    stop = threading.Event()
    with open_store(settings) as store, ExitStack() as stack:
        producer = activation_producer(settings)
        stack.callback(producer.close)
        process = Activation(
            store,
            producer,
            topics,
            segments,
            profile_renderer(settings),
            batch_size=settings.activation.batch_size,
            sweep_every_s=settings.activation.sweep_every_seconds,
        )
        stack.callback(process.close)
        threads = [
            threading.Thread(
                target=delivery(settings, d, store).follow, args=(stop,), name=f"deliver-{d.name}"
            )
            for d in receivers
        ]
        for thread in threads:
            thread.start()
            stack.callback(thread.join)
        stack.callback(stop.set)
        yield process


def profile_renderer(settings: Settings) -> Render:
    """c360.profiles carries the body GET /profiles/{id} serves, with the configured offers."""
    rules = load_offer_rules(settings.api.offers_file)
    return lambda doc, at: profile_body(doc, doc["_id"], profile_view(doc, at, rules))


def destinations(settings: Settings) -> list[Destination]:
    path = settings.activation.destinations_file
    return [] if path is None else load_destinations(path)


def delivery(settings: Settings, destination: Destination, store: Store) -> Delivery:
    """One destination's delivery, reading the topics it follows in a consumer group of its own."""
    kafka = settings.kafka
    topics = {
        s: t for s, t in topic_names(settings.activation.topic_prefix).items() if s in destination.streams
    }
    consumer = KafkaConsumer(
        *topics.values(),
        **client_config(kafka),
        group_id=f"c360-destination-{destination.name}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
    )
    return Delivery(destination, consumer, {t: s for s, t in topics.items()}, store)


def replay_dead_letters(settings: Settings, name: str | None) -> ReplayResult:
    """Every dead-lettered delivery (of destination `name` only, when given) sent once more."""
    chosen = [d for d in destinations(settings) if name is None or d.name == name]
    if name is not None and not chosen:
        raise KeyError(f"no destination {name} in {settings.activation.destinations_file}")
    delivered = failed = 0
    with open_store(settings) as store:
        for destination in chosen:
            result = replay(destination, store)
            delivered, failed = delivered + result.delivered, failed + result.failed
    return ReplayResult(delivered, failed)


@dataclass(frozen=True)
class Explanation:
    """Why a profile is in a segment or not: each condition's value, or the lake's answer."""

    segment: Segment
    profile_id: str  # the live profile (a merged-away id is followed to its survivor)
    verdict: Verdict | None  # a real-time segment's evaluation now
    boundary: datetime | None
    stored: dict[str, Any] | None  # the membership activation stored on the profile, if any
    lake_member: bool | None  # a lake-only segment: whether the lake's SQL selects the profile


def explain_segment(settings: Settings, name: str, profile_id: str) -> Explanation:
    """Raises KeyError naming what is unknown (the segment or the profile)."""
    by_name = {s.name: s for s in load_segment_file(settings.lake.segments_file).segments}
    if name not in by_name:
        raise KeyError(
            f"no segment {name} in {settings.lake.segments_file}; known: {', '.join(sorted(by_name))}"
        )
    segment = by_name[name]
    with open_store(settings) as store:
        doc = ProfileReader(store).get(profile_id)
    if doc is None:
        raise KeyError(f"no profile {profile_id}")
    stored = (doc.get("activation") or {}).get("segments", {}).get(name)
    if segment.rule is None:
        con = Lakehouse(lake_location(settings)).duckdb()
        found = con.execute(
            f"SELECT count(*) FROM ({members_sql(segment)}) WHERE profile_id = ?", [doc["_id"]]
        )
        return Explanation(segment, doc["_id"], None, None, stored, found.fetchall()[0][0] > 0)
    now = datetime.now(UTC)
    return Explanation(
        segment,
        doc["_id"],
        verdict(segment.rule, doc, now),
        next_boundary(segment.rule, doc, now),
        stored,
        None,
    )
