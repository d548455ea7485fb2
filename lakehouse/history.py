"""A profile as it was at any past moment, from the append-only profile_changes history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

_AS_OF_SQL = """
SELECT * EXCLUDE (document, sync_error) FROM profile_changes
WHERE profile_id = $id AND change_time <= $at AND operation <> 'delete'
ORDER BY seq DESC LIMIT 1
"""
_DELETED_SQL = """
SELECT count(*) FROM profile_changes
WHERE profile_id = $id AND operation = 'delete' AND change_time <= $at AND seq > $seq
"""


def profile_as_of(con: duckdb.DuckDBPyConnection, profile_id: str, at: datetime) -> dict[str, Any] | None:
    """The last version changed at or before `at`; None if it did not exist then or was deleted.
    A merged-away profile comes back as its redirect (`merged_into` set)."""
    rows = con.sql(_AS_OF_SQL, params={"id": profile_id, "at": at}).to_arrow_table().to_pylist()
    if not rows:
        return None
    deleted = con.sql(_DELETED_SQL, params={"id": profile_id, "at": at, "seq": rows[0]["seq"]}).fetchall()
    return None if deleted[0][0] else rows[0]
