"""profiles_current, the newest row of every profile, kept by merging profile_changes into it.

A merge rewrites the Delta files holding the profiles it touches (about half a second or more on a busy
machine); run on the profile stream's thread, it held back every change read behind it. `CurrentTable`
merges instead wherever its owner calls `catch_up`: `LakeSync.run` does so from a worker thread every
`lake.current_every_seconds`. It reads profile_changes through its own table object, up to the batch
that snapshot holds, and commits with that batch number as profiles_current's application transaction:
after a crash at any moment, the next catch-up merges exactly the batches still missing. Every write to
profiles_current goes through this object, one at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Collection

import pyarrow as pa
import pyarrow.compute as pc

from c360.storage import Location
from sync.delta_target import DeltaTarget, open_table
from sync.tables import Table


class CurrentTable:
    def __init__(self, changes_path: Location, changes: Table, current: DeltaTarget) -> None:
        self._changes = open_table(changes_path)  # its own object: the stream commits to its own
        self._schema = changes.schema
        self._key = changes.key
        self._current = current
        self._lock = threading.Lock()
        self._compact = threading.Event()

    def catch_up(self) -> None:
        """Merge the batches profile_changes holds and profiles_current does not yet, newest row per
        profile winning; then compact, if asked to since the last time."""
        with self._lock:
            self._merge_missing()
            if self._compact.is_set():
                self._compact.clear()
                self._current.compact()

    def drop_epochs_before(self, epoch: int) -> None:
        """After a new epoch's snapshot: catch up, then remove the rows older epochs left for documents
        that no longer exist (the snapshot rewrote every row of a document that does)."""
        with self._lock:
            self._merge_missing()
            self._current.delete(f"sync_epoch < {epoch}")

    def erase(self, keys: Collection[str]) -> None:
        """Remove these profiles' rows. Called once they left profile_changes: a merge that read them
        before holds the lock until it has committed, so none brings them back afterwards."""
        with self._lock:
            self._current.erase(keys)

    def compact_soon(self) -> None:
        """Ask for a compaction with the next catch-up (a merge leaves small files behind)."""
        self._compact.set()

    def _merge_missing(self) -> None:
        changes = self._changes
        changes.update_incremental()
        upto = changes.transaction_version(self._current.app_id) or 0
        done = self._current.batch
        if done >= upto:
            return
        reader = changes.scan(predicate=f"sync_batch > {done} AND sync_batch <= {upto}")
        rows = pa.RecordBatchReader.from_stream(reader).read_all()
        if rows.num_rows == 0:  # only an epoch's start: a merge without rows would commit nothing
            return
        rows = rows.select(self._schema.names).cast(self._schema)
        self._current.merge_latest(latest_per_key(rows, self._key), upto)


def latest_per_key(rows: pa.Table, key: str) -> pa.Table:
    """The row with the highest `seq` for each non-null key."""
    ordered = rows.filter(pc.is_valid(rows.column(key))).sort_by("seq")
    last = {k: i for i, k in enumerate(ordered.column(key).to_pylist())}
    return ordered.take(sorted(last.values()))
