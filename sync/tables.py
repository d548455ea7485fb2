"""The Delta tables the sync writes: their Arrow schemas, partitioning and the key each row is known by.

Every table carries the sync's bookkeeping columns: `sync_batch` (the application-transaction version
of the commit that wrote the row), `sync_epoch` (bumped when the change stream's history was lost and a
fresh snapshot was taken) and `sync_error` (why a change could not be converted; its typed columns are
then null and `document` holds the original as Extended JSON, so nothing is dropped silently).

Money is `decimal(38, 6)`; times are microsecond UTC timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

MONEY = pa.decimal128(38, 6)
MONEY_SCALE = 6
TIME = pa.timestamp("us", tz="UTC")

_SYNC_COLUMNS = [
    pa.field("operation", pa.string()),
    pa.field("change_time", TIME),
    pa.field("sync_batch", pa.int64()),
    pa.field("sync_epoch", pa.int64()),
    pa.field("sync_error", pa.string()),
    pa.field("document", pa.string()),
]

_PROFILE = pa.schema(
    [
        pa.field("profile_id", pa.string()),
        # Orders the changes of one profile: sync_batch * SEQ_PER_BATCH + position in the batch.
        pa.field("seq", pa.int64()),
        pa.field("version", pa.int64()),
        pa.field("created_at", TIME),
        pa.field("updated_at", TIME),
        pa.field("first_seen", TIME),
        pa.field("last_seen", TIME),
        pa.field("event_count", pa.int64()),
        pa.field(
            "stats",
            pa.list_(pa.struct([("type", pa.string()), ("count", pa.int64()), ("amount", MONEY)])),
        ),
        pa.field("channels", pa.list_(pa.struct([("channel", pa.string()), ("last_at", TIME)]))),
        pa.field(
            "identifiers",
            pa.list_(
                pa.struct(
                    [("type", pa.string()), ("value", pa.string()), ("first_seen", TIME), ("last_seen", TIME)]
                )
            ),
        ),
        pa.field("merged_from", pa.list_(pa.string())),
        pa.field("merged_into", pa.string()),
        pa.field("merged_at", TIME),
        pa.field("segments", pa.list_(pa.string())),
        *_SYNC_COLUMNS,
    ]
)
SEQ_PER_BATCH = 1_000_000  # above lake.batch_size's upper bound

_IDENTITY = pa.schema(
    [
        pa.field("change_id", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("survivor", pa.string()),
        pa.field("merged", pa.string()),
        pa.field("merged_first_seen", TIME),
        pa.field("at", TIME),
        pa.field("evidence", pa.string()),
        *_SYNC_COLUMNS,
    ]
)

_EVENT = pa.schema(
    [
        pa.field("event_id", pa.string()),
        pa.field("schema_version", pa.int64()),
        pa.field("source", pa.string()),
        pa.field("type", pa.string()),
        pa.field("occurred_at", TIME),
        pa.field("occurred_date", pa.date32()),
        pa.field("channel", pa.string()),
        pa.field("identifiers", pa.list_(pa.struct([("type", pa.string()), ("value", pa.string())]))),
        pa.field("amount", MONEY),
        pa.field("currency", pa.string()),
        pa.field("attributes", pa.string()),
        # A CDC row change (op, table, entity, key, position, row) as JSON; null for an activity event.
        # Row changes are state, not activity: they add identifiers to a profile but no counts.
        pa.field("change", pa.string()),
        # The profile the event was first attributed to; merges re-point it (see identity_changes and
        # the `merged_into` of profiles_current), which the lakehouse's `events` view resolves.
        pa.field("profile_id", pa.string()),
        pa.field("ingested_at", TIME),
        *_SYNC_COLUMNS,
    ]
)


@dataclass(frozen=True)
class Table:
    name: str
    schema: pa.Schema
    key: str  # identifies a row's source document; a re-snapshot inserts only keys not yet present
    # The columns whose min/max per file the Delta log keeps (`delta.dataSkippingStatsColumns`): ids,
    # times, counts. Never text that can hold personal data: the log outlives an erasure's vacuum.
    stats_columns: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    # The columns naming a profile: an erasure the change stream did not show (lost history) is applied
    # by the profile ids MongoDB recorded for it.
    person_columns: tuple[str, ...] = ()


_SYNC_STATS = ("operation", "change_time", "sync_batch", "sync_epoch")
_PROFILE_STATS = (
    "profile_id", "seq", "version", "created_at", "updated_at", "first_seen", "last_seen", "event_count",
    "merged_into", "merged_at", *_SYNC_STATS,
)  # fmt: skip
PROFILE_CHANGES = Table(
    "profile_changes", _PROFILE, "profile_id", _PROFILE_STATS, person_columns=("profile_id",)
)
PROFILES_CURRENT = Table(
    "profiles_current", _PROFILE, "profile_id", _PROFILE_STATS, person_columns=("profile_id",)
)
# change_id: older moves name the moved key in their id.
IDENTITY_CHANGES = Table(
    "identity_changes",
    _IDENTITY,
    "change_id",
    ("kind", "survivor", "merged", "at", *_SYNC_STATS),
    person_columns=("survivor", "merged"),
)
EVENTS = Table(
    "events",
    _EVENT,
    "event_id",
    (
        "event_id",
        "source",
        "type",
        "occurred_at",
        "channel",
        "amount",
        "profile_id",
        "ingested_at",
        *_SYNC_STATS,
    ),
    ("occurred_date",),
    person_columns=("profile_id",),
)
ALL_TABLES = (PROFILE_CHANGES, PROFILES_CURRENT, IDENTITY_CHANGES, EVENTS)
