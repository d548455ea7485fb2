"""One Delta table as the sync's target: each commit carries its stream position, checked before writing.

A commit writes the rows of one micro-batch together with an application transaction (app id, batch
number) and, in the commit info, the checkpoint reached: the change-stream resume token of the batch's
last change (or the snapshot's progress). Reading the table back therefore says exactly which changes
it holds, so a sync killed at any moment resumes after the last commit and writes nothing twice.
delta-rs records but does not enforce increasing versions, so `commit` refuses to write unless the
table's transaction version is still the one this process last saw. Between that check and the commit
another sync could still commit; delta-rs then refuses this commit (a concurrent transaction of the same
application id: `ConcurrentSyncError`), while a commit of any other writer, which does not touch the
sync's rows, is retried as the next log version.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, replace
from typing import Any

import pyarrow as pa
from bson import json_util
from bson.timestamp import Timestamp
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from c360.storage import Location
from sync.tables import Table

log = logging.getLogger(__name__)

META_KEY = "c360.sync"
HISTORY_PAGES = (16, 256, None)


class ConcurrentSyncError(RuntimeError):
    """Another process committed to the table since this one read it: two syncs share one app id."""


@dataclass(frozen=True)
class Checkpoint:
    """How far a table has got. `batch` 0 with epoch -1 means: nothing written yet."""

    batch: int = 0
    epoch: int = -1
    phase: str = "snapshot"  # "snapshot": copying the collection at snapshot_at; then "stream"
    token: dict[str, Any] | None = None  # resume token of the last change written
    snapshot_at: Timestamp | None = None
    snapshot_after: Any = None  # last _id the snapshot wrote (it reads in _id order)
    # Each (after, at): MongoDB no longer held the snapshot's time, and the documents after `after` were
    # read at the later time `at`; the stream skips their changes up to `at` (sync/stream.py).
    snapshot_moves: tuple[tuple[Any, Timestamp], ...] = ()

    @property
    def read_at(self) -> Timestamp | None:
        """The time the snapshot's next chunk is read at."""
        return self.snapshot_moves[-1][1] if self.snapshot_moves else self.snapshot_at

    def to_json(self) -> str:
        return json_util.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        fields = json_util.loads(text)
        moves = tuple((after, at) for after, at in fields.pop("snapshot_moves", ()))
        return cls(**fields, snapshot_moves=moves)

    def next(self, **changes: Any) -> Checkpoint:
        return replace(self, batch=self.batch + 1, **changes)


# Which columns' min/max each file's entry in the log keeps (sync/tables.py, Table.stats_columns).
STATS_COLUMNS = "delta.dataSkippingStatsColumns"


class DeltaTarget:
    def __init__(self, root: Location, table: Table, app_id: str) -> None:
        self.table = table
        self.path = root.child(table.name)
        self.app_id = app_id
        self._dt = self._open()
        self._batch = self._dt.transaction_version(app_id) or 0
        self._compacting: threading.Thread | None = None

    @property
    def batch(self) -> int:
        """The last batch this table holds (its application-transaction version)."""
        return self._batch

    @property
    def delta(self) -> DeltaTable:
        return self._dt

    def checkpoint(self) -> Checkpoint:
        """The checkpoint stored with this table's last sync commit."""
        if self._batch == 0:
            return Checkpoint()
        for limit in HISTORY_PAGES:
            for commit in self._dt.history(limit):
                if META_KEY in commit:
                    found = Checkpoint.from_json(commit[META_KEY])
                    if found.batch == self._batch:
                        return found
        raise RuntimeError(f"{self.path}: no commit info for batch {self._batch} of {self.app_id}")

    def append(self, rows: pa.Table, checkpoint: Checkpoint) -> None:
        self._commit(checkpoint, lambda props: self._write(rows, props))

    def insert_missing(self, rows: pa.Table, checkpoint: Checkpoint) -> None:
        """For a re-snapshot: rows whose key the table already holds are left alone."""
        key = self.table.key
        self.wait_compaction()  # a merge rewriting files a compaction removes would fail to commit

        def merge(props: CommitProperties) -> None:
            before = self._dt.version()
            self._dt.merge(
                rows, f"t.{key} = s.{key}", source_alias="s", target_alias="t", commit_properties=props
            ).when_not_matched_insert_all().execute()
            if self._dt.version() == before:  # every key held already: nothing committed, nor the batch
                self._write(rows.schema.empty_table(), props)
            self._dt.update_incremental()  # unlike write_deltalake, a merge leaves the object behind

        self._commit(checkpoint, merge)

    def merge_latest(self, rows: pa.Table, batch: int) -> None:
        """Keep the newest row per key (by `seq`); records `batch`. Erased documents leave by `erase`."""
        key = self.table.key

        def merge(props: CommitProperties) -> None:
            before = self._dt.version()
            (
                self._dt.merge(
                    rows, f"t.{key} = s.{key}", source_alias="s", target_alias="t", commit_properties=props
                )
                .when_matched_update_all(predicate="s.seq > t.seq")
                .when_not_matched_insert_all()
                .execute()
            )
            # A merge that changed nothing commits nothing: record the batch all the same. The table
            # object moves only with its own commits; re-reading the log here would also count another
            # writer's commit (a compaction, a second sync) as this merge's, and lose the record.
            if self._dt.version() == before:
                self._write(rows.schema.empty_table(), props)

        self._commit(Checkpoint(batch=batch, phase="stream"), merge, expect=self._batch)

    def delete(self, predicate: str) -> None:
        self._dt.delete(predicate)

    def erase(self, keys: Collection[str], columns: Collection[str] = ()) -> None:
        """Remove every row whose key (or any of `columns`) is one of `keys`, in a commit without a batch:
        the caller commits its batch afterwards, so a sync stopped in between erases again."""
        # A delete reading files a compaction replaces fails to commit: let any compaction finish, then
        # read the table as it left it (appends keep this object current; a compaction does not).
        self.wait_compaction()
        self._dt.update_incremental()
        self._dt.delete(" OR ".join(key_in(column, keys) for column in columns or (self.table.key,)))

    def compact(self) -> None:
        self._dt.optimize.compact()

    def compact_in_background(self) -> None:
        """For append-only tables: compaction rewrites every small file, seconds on a busy machine, so it
        runs beside the commits (its own table object, in a thread). Appends never conflict with it; a
        compaction that loses to another writer is logged and done again next time."""
        if self._compacting is not None and self._compacting.is_alive():
            return
        self._compacting = threading.Thread(target=self._compact, name=f"compact-{self.table.name}")
        self._compacting.start()

    def wait_compaction(self) -> None:
        if self._compacting is not None:
            self._compacting.join()
            self._compacting = None

    def _compact(self) -> None:
        try:
            open_table(self.path).optimize.compact()
        except DeltaError as exc:
            log.warning("%s: compaction skipped: %s", self.path, exc)

    def refresh(self) -> None:
        self._dt.update_incremental()
        self._batch = self._dt.transaction_version(self.app_id) or 0

    def _commit(
        self, checkpoint: Checkpoint, write: Callable[[CommitProperties], None], expect: int | None = None
    ) -> None:
        """Write unless the stored version moved: `expect` defaults to the batch right before this one."""
        expected = checkpoint.batch - 1 if expect is None else expect
        self._dt.update_incremental()
        stored = self._dt.transaction_version(self.app_id) or 0
        if stored != expected:
            raise ConcurrentSyncError(f"{self.path}: holds batch {stored}, this sync expected {expected}")
        props = CommitProperties(
            custom_metadata={META_KEY: checkpoint.to_json()},
            app_transactions=[Transaction(self.app_id, checkpoint.batch)],
        )
        try:
            write(props)
        except CommitFailedError as exc:  # delta-rs: a commit of the same app id overtook this one
            raise ConcurrentSyncError(f"{self.path}: another writer committed first: {exc}") from exc
        self._batch = checkpoint.batch

    def _write(self, rows: pa.Table, props: CommitProperties) -> None:
        write_deltalake(self._dt, rows, mode="append", commit_properties=props)

    def _open(self) -> DeltaTable:
        stats = {STATS_COLUMNS: ",".join(self.table.stats_columns)}
        try:
            dt = open_table(self.path)
        except TableNotFoundError:
            if self.path.is_local:
                self.path.path.mkdir(parents=True, exist_ok=True)
            return DeltaTable.create(
                self.path.uri,
                self.table.schema,
                mode="ignore",
                partition_by=list(self.table.partition_by) or None,
                name=self.table.name,
                configuration=stats,
                storage_options=dict(self.path.options) or None,
            )
        if dt.metadata().configuration.get(STATS_COLUMNS) != stats[STATS_COLUMNS]:
            dt.alter.set_table_properties(stats)  # a table from before: files written from now on comply
        return dt


def open_table(at: Location) -> DeltaTable:
    """The Delta table at `at`, local or on an object store; TableNotFoundError when there is none."""
    return DeltaTable(at.uri, storage_options=dict(at.options) or None)


def key_in(column: str, keys: Collection[str]) -> str:
    """A SQL predicate matching rows whose `column` is one of `keys`."""
    quoted = ", ".join("'" + key.replace("'", "''") + "'" for key in sorted(keys))
    return f"{column} IN ({quoted})"
