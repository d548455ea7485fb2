"""One collection's change stream into its Delta table, in micro-batches, resumable after any crash.

Start: the table's last commit says where to continue (`DeltaTarget.checkpoint`). With no commit yet,
or when MongoDB no longer has the stream's history (ChangeStreamHistoryLost; an invalidate after the
collection was dropped, renamed or replaced), a new epoch begins: a commit without rows records its
majority-committed cluster time T, the collection is read at T in `_id` order, chunk by chunk (each
chunk a commit recording how far it got), then the stream starts right after T. Should MongoDB drop T's
history before the copy ends (SnapshotTooOld), the rest is read at a later time, whose changes the stream
skips for those documents: one epoch still. Changes, read ahead by a `ChangeFeed`, are converted as they
arrive (bad ones to error rows) and collected until `lake.batch_size`, `lake.batch_max_seconds` after
the first one, or a quarter of that once the stream runs dry; then committed with the last change's
resume token. Converting on arrival keeps the conversion out of the time between a batch closing and its
commit.

A delete is an erasure (nothing else deletes from the watched collections): the batch's commit is
preceded by one DELETE of every erased key's rows (and profiles_current's), and rows of an erased key
buffered before its delete are not written. The DELETE commits first, so a sync stopped before the
batch's commit reads the batch again and deletes again: nothing of an erased document survives a crash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from bson.codec_options import CodecOptions
from bson.timestamp import Timestamp
from pymongo.collection import Collection
from pymongo.errors import OperationFailure

from c360.settings import LakeSettings
from operational.erasure import ERASURES
from sync.convert import Position, change_time, key_of, rows_to_table
from sync.current import CurrentTable
from sync.delta_target import Checkpoint, DeltaTarget
from sync.feed import ChangeFeed
from sync.tables import Table

log = logging.getLogger(__name__)

CHANGE_STREAM_HISTORY_LOST = 286
# The collection was dropped, renamed or replaced (a restore renaming a copy over it): no document
# changes, and an invalidate follows. What is there now is read as a new epoch.
ENDS_STREAM = frozenset({"drop", "rename", "dropDatabase", "invalidate"})
SNAPSHOT_TOO_OLD = 239
AWAIT_MS = 50  # longest a pull blocks when the stream is idle
# Changes per getMore. pymongo hands over none of a batch before decoding all of it (0.1 ms of CPU per
# profile change): behind, a full batch of 16 MB delayed its first change by the decoding of ~4,000.
FEED_BATCH = 500
# Decoded changes the feed may hold ahead of the converter: two getMores' worth keeps MongoDB's time
# overlapped with conversion; more would only hold more decoded profiles in memory.
FEED_AHEAD = 2 * FEED_BATCH
# Decimal128 stays Decimal128 (exact, and Extended JSON knows it). BSON dates are UTC: decoded naive
# (half the decoding cost of tz-aware ones), which the converters, Arrow and Extended JSON read as UTC.
RAW_CODEC = CodecOptions()

Convert = Callable[[dict[str, Any], Position], dict[str, Any] | None]
# What the converters read of a change. The stream drops the rest on the server: an update's
# updateDescription repeats much of the post-image and costs as much to decode as the profile itself.
CHANGE_FIELDS = ("operationType", "documentKey", "fullDocument", "wallTime", "clusterTime")


@dataclass(frozen=True)
class StreamSpec:
    collection: str
    table: Table
    convert: Convert
    full_document: str | None = None  # "whenAvailable" where updates need their post-image
    # A re-snapshot (epoch > 0) appends every document as a new-epoch row (a history table), rather
    # than inserting only the keys the table does not hold yet (a table of immutable records).
    append_resnapshot: bool = False
    extra_fields: tuple[str, ...] = ()  # beyond CHANGE_FIELDS, e.g. "updateDescription"


@dataclass(frozen=True)
class BatchReport:
    """What one commit did, for progress displays and benchmarks."""

    table: str
    batch: int
    epoch: int
    rows: int
    errors: int
    skipped: int
    erased: int  # documents deleted in MongoDB, whose rows this commit's DELETE removed first
    lags_s: list[float] = field(repr=False)


OnCommit = Callable[[BatchReport], None]


class CollectionSync:
    def __init__(
        self,
        collection: Collection,
        spec: StreamSpec,
        target: DeltaTarget,
        settings: LakeSettings,
        on_commit: OnCommit,
        current: CurrentTable | None = None,
    ) -> None:
        self._coll = collection.with_options(codec_options=RAW_CODEC)
        self._spec = spec
        self._target = target
        self._current = current  # profiles_current, merged from this stream's table by its owner
        self._settings = settings
        self._on_commit = on_commit
        self._feed: ChangeFeed | None = None
        # When each change read since the last commit was made, and the last one's resume token: a
        # change is dropped once converted, rather than kept decoded (a whole profile) until the commit.
        self._times: list[datetime | None] = []
        self._token: Any = None
        self._rows: list[dict[str, Any]] = []  # their rows (a skipped change has none)
        self._erasures: list[tuple[str | None, int]] = []  # each delete's key and len(self._rows) then
        self._first_at = 0.0
        self._commits = 0
        self._skipped = 0  # changes that needed no row since the last commit, reported with the next
        self.checkpoint = target.checkpoint()
        if self.checkpoint.epoch < 0:
            self._new_epoch()

    @property
    def collection(self) -> str:
        return self._spec.collection

    def step(self) -> None:
        """Do a little work: one snapshot chunk, or pull what the stream has ready and commit when due."""
        try:
            if self.checkpoint.phase == "snapshot":
                self._snapshot_chunk()
                return
            caught_up = self._pull()
            if self._times and self._due(caught_up):
                self._flush()
        except OperationFailure as exc:
            if exc.code not in (CHANGE_STREAM_HISTORY_LOST, SNAPSHOT_TOO_OLD):
                raise
            if exc.code == SNAPSHOT_TOO_OLD and self.checkpoint.phase == "snapshot":
                log.warning("%s: %s; reading the rest of the snapshot later", self._spec.collection, exc)
                self._move_snapshot()
                return
            log.warning("%s: %s; starting a new epoch from a snapshot", self._spec.collection, exc)
            self._close_stream()
            self._times, self._rows, self._erasures = [], [], []
            self._new_epoch()

    def close(self) -> None:
        """Commit what is buffered, then stop reading."""
        if self._times and self.checkpoint.phase == "stream":
            self._flush()
        self._close_stream()
        self._target.wait_compaction()

    # -- streaming ------------------------------------------------------------------------------

    def _due(self, caught_up: bool) -> bool:
        """A batch closes when full, `batch_max_seconds` after its first change, or, once the stream
        has nothing more ready, a quarter of that: caught up, a change waits little for its commit;
        behind, batches grow (fewer commits, each paying its Delta log work once)."""
        age = time.monotonic() - self._first_at
        limit = self._settings.batch_max_seconds
        return len(self._times) >= self._settings.batch_size or age >= (limit / 4 if caught_up else limit)

    def _pull(self) -> bool:
        """Buffer (and convert) what the stream has ready, for at most a quarter of `batch_max_seconds`;
        True when it ran dry or nothing more is waiting (caught up)."""
        feed = self._feed or self._open_feed()
        deadline = time.monotonic() + self._settings.batch_max_seconds / 4
        while len(self._times) < self._settings.batch_size:
            change = feed.take(AWAIT_MS / 1000)
            if change is None:
                return True
            if change["operationType"] in ENDS_STREAM:
                self._flush()
                raise OperationFailure(
                    f"the change stream ended ({change['operationType']})", CHANGE_STREAM_HISTORY_LOST
                )
            if not self._times:
                self._first_at = time.monotonic()
            cp = self.checkpoint  # the next commit is batch cp.batch + 1
            if change["operationType"] == "delete":
                self._erasures.append((key_of(change), len(self._rows)))
            else:
                row = self._spec.convert(change, Position(cp.batch + 1, cp.epoch, len(self._times)))
                if row is not None:
                    self._rows.append(row)
            self._times.append(change_time(change))
            self._token = change["_id"]
            if time.monotonic() > deadline:  # converting as it pulls, the loop can end before the
                return not feed.pending()  # feed runs dry: caught up means nothing is waiting
        return False

    def _open_feed(self) -> ChangeFeed:
        cp = self.checkpoint
        position: dict[str, Any] = (
            {"resume_after": cp.token}
            if cp.token is not None
            else {"start_at_operation_time": _after(cp.snapshot_at)}
        )
        keep = dict.fromkeys((*CHANGE_FIELDS, *self._spec.extra_fields), 1)
        stream = self._coll.watch(
            [*skip_moved(cp.snapshot_moves), {"$project": keep}],
            full_document=self._spec.full_document,
            max_await_time_ms=AWAIT_MS,
            batch_size=min(FEED_BATCH, self._settings.batch_size),
            **position,
        )
        self._feed = ChangeFeed(stream, FEED_AHEAD, self._spec.collection)
        return self._feed

    def _flush(self) -> None:
        times, rows, erasures = self._times, self._rows, self._erasures
        self._times, self._rows, self._erasures = [], [], []
        if not times:
            return
        checkpoint = self.checkpoint.next(token=self._token)
        if not rows and not erasures:  # only skipped changes: the next commit carries a later token anyway
            self._skipped += len(times)
            return
        kept = rows_after_erasures(rows, erasures, self._spec.table.key)
        skipped = len(times) - len(kept) - len(erasures)
        self._commit(kept, checkpoint, skipped, times, erased=[k for k, _ in erasures if k is not None])

    def _close_stream(self) -> None:
        if self._feed is not None:
            self._feed.close()
            self._feed = None

    # -- snapshots (a new epoch) ----------------------------------------------------------------

    def _new_epoch(self) -> None:
        """Commit the start of a snapshot at once, without rows: a sync killed before its first chunk
        then resumes this snapshot instead of taking a later one, which would show the versions
        written in between only as their end state."""
        at = self._majority_time()
        start = Checkpoint(
            batch=self._target.batch, epoch=self.checkpoint.epoch + 1, phase="snapshot", snapshot_at=at
        ).next()
        self._target.append(self._spec.table.schema.empty_table(), start)
        self.checkpoint = start

    def _majority_time(self) -> Timestamp:
        hello = self._coll.database.client.admin.command("hello")
        return hello["lastWrite"]["majorityOpTime"]["ts"]

    def _move_snapshot(self) -> None:
        """MongoDB keeps a snapshot's time for minSnapshotHistoryWindowInSeconds (5 minutes by default),
        less than a large collection takes to copy or a crashed sync may take to restart. The documents
        not read yet are read at a later time instead; the stream, from the epoch's start on, skips
        their changes up to that time, which the reads hold. The epoch and every change after each
        document's snapshot row are kept (a new epoch would lose the changes in between, and never end
        for a collection that takes longer than the window to copy). Committed with the next chunk: a
        sync stopped before that moves again."""
        cp = self.checkpoint
        moves = tuple(m for m in cp.snapshot_moves if m[0] != cp.snapshot_after)  # none read since
        self.checkpoint = replace(cp, snapshot_moves=(*moves, (cp.snapshot_after, self._majority_time())))

    def _snapshot_chunk(self) -> None:
        cp = self.checkpoint
        query = {} if cp.snapshot_after is None else {"_id": {"$gt": cp.snapshot_after}}
        docs = list(
            self._coll.database.cursor_command(
                "find",
                self._coll.name,
                codec_options=RAW_CODEC,
                filter=query,
                sort={"_id": 1},
                limit=self._settings.batch_size,
                batchSize=self._settings.batch_size,
                readConcern={"level": "snapshot", "atClusterTime": cp.read_at},
            )
        )
        if not docs:
            self._end_snapshot()
            return
        assert cp.read_at is not None
        wall = datetime.fromtimestamp(cp.read_at.time, UTC)
        changes = [
            {
                "operationType": "snapshot",
                "documentKey": {"_id": d["_id"]},
                "fullDocument": d,
                "wallTime": wall,
            }
            for d in docs
        ]
        checkpoint = cp.next(snapshot_after=docs[-1]["_id"])
        rows = self._convert(changes, checkpoint)
        self._commit(rows, checkpoint, skipped=len(changes) - len(rows), times=None)
        if len(docs) < self._settings.batch_size:
            self._end_snapshot()

    def _end_snapshot(self) -> None:
        """Stream from right after the snapshot time; rows an older epoch left in the current table
        for documents that no longer exist go."""
        cp = self.checkpoint
        if cp.epoch > 0:
            self._erase_recorded()
        if self._current is not None and cp.epoch > 0:
            self._current.drop_epochs_before(cp.epoch)
        self.checkpoint = replace(cp, phase="stream", token=None, snapshot_after=None)

    def _erase_recorded(self) -> None:
        """A new epoch follows lost stream history, whose deletes it never saw: the people erased meanwhile
        would stay in the older epochs' rows. MongoDB records every erasure's profile ids
        (operational/erasure.py); their rows go as a delete in the stream would have taken them
        (profiles_current drops the older epochs' rows next)."""
        columns = self._spec.table.person_columns
        erased = set(self._coll.database[ERASURES].distinct("profiles")) if columns else set()
        if erased:
            self._target.erase(erased, columns)

    # -- commits --------------------------------------------------------------------------------

    def _convert(self, changes: list[dict[str, Any]], checkpoint: Checkpoint) -> list[dict[str, Any]]:
        convert = self._spec.convert
        rows = (convert(c, Position(checkpoint.batch, checkpoint.epoch, i)) for i, c in enumerate(changes))
        return [r for r in rows if r is not None]

    def _commit(
        self,
        rows: list[dict[str, Any]],
        checkpoint: Checkpoint,
        skipped: int,
        times: list[datetime | None] | None,
        erased: Sequence[str] = (),
    ) -> None:
        table = self._spec.table
        data = rows_to_table(rows, table.schema, table.key)
        resnapshot = checkpoint.phase == "snapshot" and checkpoint.epoch > 0
        if erased:  # before the batch's commit: see the module docstring
            self._target.erase(set(erased))
            if self._current is not None:  # after profile_changes, so that no merge brings them back
                self._current.erase(set(erased))
        if resnapshot and not self._spec.append_resnapshot:
            self._target.insert_missing(data, checkpoint)
        else:
            self._target.append(data, checkpoint)
        self.checkpoint = checkpoint
        self._after_commit(data, checkpoint, skipped, len(erased), times)

    def _after_commit(
        self, data: pa.Table, cp: Checkpoint, skipped: int, erased: int, times: list[datetime | None] | None
    ) -> None:
        errors = data.num_rows - data.column("sync_error").null_count
        now = datetime.now(UTC)
        lags = [(now - t).total_seconds() for t in times or [] if t is not None]
        skipped, self._skipped = skipped + self._skipped, 0
        self._commits += 1
        if self._commits % self._settings.compact_every == 0:
            self._target.compact_in_background()  # profile_changes, identity_changes, events: appends
            if self._current is not None:
                self._current.compact_soon()
        name = self._spec.table.name
        self._on_commit(BatchReport(name, cp.batch, cp.epoch, data.num_rows, errors, skipped, erased, lags))


def rows_after_erasures(
    rows: list[dict[str, Any]], erasures: list[tuple[str | None, int]], key: str
) -> list[dict[str, Any]]:
    """The rows to write: an erased key's rows only from its last delete on (a document deleted, then
    written again under its `_id`, keeps what came after). `erasures` holds (key, index in `rows`)."""
    if not erasures:
        return rows
    since = dict(erasures)
    return [row for i, row in enumerate(rows) if i >= since.get(row.get(key), 0)]


def skip_moved(moves: Sequence[tuple[Any, Timestamp]]) -> list[dict[str, Any]]:
    """The stream stage dropping what a moved snapshot read already: for each move (after, at), the
    changes up to `at` of documents after `after`. Compared in MongoDB, in BSON order as the snapshot
    read them (an expression compares across types, where a query operator would not). Changes without a
    document (drop, invalidate) pass: a missing `_id` sorts first."""
    if not moves:
        return []
    doc, time_ = "$documentKey._id", "$clusterTime"
    keep = [{"$or": [{"$lte": [doc, after]}, {"$gt": [time_, at]}]} for after, at in moves]
    return [{"$match": {"$expr": {"$and": keep}}}]


def _after(at: Timestamp | None) -> Timestamp:
    assert at is not None, "a stream without a token starts after its epoch's snapshot"
    return Timestamp(at.time, at.inc + 1)
