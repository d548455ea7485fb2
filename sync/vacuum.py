"""Vacuum: delete the files of the sync's tables that no table version within the retention reads.

A DELETE (an erasure reaching the lake) writes new files without the erased rows; the old files stay,
for time travel, until vacuumed. Full mode also deletes the files no commit names (written by a sync or
a compaction that was killed or lost a race before committing), once they are older than the retention:
they hold rows too, erased ones among them. Younger files are left alone, since a running sync's
not-yet-committed files are among them.

delta-rs plans which files go (a dry run); this module deletes them. delta-rs's own deletion commits
VACUUM START and VACUUM END to the log, and those commits fail whenever the sync merges, compacts or
deletes meanwhile (a concurrent transaction deleted data the vacuum read): beside a running sync that is
every few seconds. The files a plan names are never read again by any version in the retention, so
deleting them needs no commit.
"""

from __future__ import annotations

from collections.abc import Iterator

from deltalake.exceptions import TableNotFoundError

from c360.storage import Location
from sync.delta_target import open_table
from sync.tables import ALL_TABLES


def vacuum_tables(root: Location, retention_hours: int) -> Iterator[tuple[str, int | None]]:
    """Vacuum each table under `root`, yielding its name and the files removed (None: no table yet).

    The caller enforces a floor (c360.settings.MIN_HISTORY_RETENTION_HOURS); 0, for tests, removes
    every file the latest versions do not read."""
    for table in ALL_TABLES:
        path = root.child(table.name)
        try:
            delta = open_table(path)
        except TableNotFoundError:
            yield table.name, None
            continue
        plan = delta.vacuum(
            retention_hours=retention_hours, dry_run=True, enforce_retention_duration=False, full=True
        )
        # False: another vacuum was first (an object store answers True all the same)
        yield table.name, sum(path.delete(name) for name in plan)
