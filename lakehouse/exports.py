"""Nightly segment exports: each segment's audience as Parquet and CSV plus a manifest, for one date.

`<exports_path>/<date>/<segment>.parquet|.csv` and `manifest.json` (row counts, SHA-256 of every file,
members entered and exited since the previous export there), on local disk or an object store. The
lake is read as of the end of the date (Delta time travel), rows are sorted and files carry no run
time, so rerunning a past date writes byte-identical files. Marketing segments drop members without
marketing consent (see segments.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from c360.storage import Location
from lakehouse.files import encode
from lakehouse.segments import Segment, audience_sql, members_sql

MANIFEST = "manifest.json"
_CONTACT = """
SELECT a.profile_id,
       list_min([i.value FOR i IN p.identifiers IF i.type = 'customer_id']) AS customer_id,
       list_min([i.value FOR i IN p.identifiers IF i.type = 'email']) AS email,
       list_min([i.value FOR i IN p.identifiers IF i.type = 'phone']) AS phone
FROM ({audience}) a JOIN profiles p ON p.profile_id = a.profile_id
ORDER BY a.profile_id
"""


@dataclass(frozen=True)
class ExportResult:
    directory: Location
    manifest: dict[str, Any]


def export_segments(
    con: duckdb.DuckDBPyConnection, segments: list[Segment], day: date, root: Location
) -> ExportResult:
    out = root.child(day.isoformat())
    previous = _previous_export(root, day)
    entries = []
    for segment in segments:
        rows = con.sql(_CONTACT.format(audience=audience_sql(segment))).to_arrow_table()
        members = _count(con, members_sql(segment))
        files = {}
        for suffix in ("parquet", "csv"):
            name, data = f"{segment.name}.{suffix}", encode(rows, suffix)
            out.write(name, data)
            files[suffix] = {"file": name, "sha256": hashlib.sha256(data).hexdigest()}
        now_ids = set(rows.column("profile_id").to_pylist())
        before = _ids(root, previous, f"{segment.name}.parquet") if previous else None
        entries.append(
            {
                "segment": segment.name,
                "marketing": segment.marketing,
                "rows": rows.num_rows,
                "suppressed_without_consent": members - rows.num_rows,
                "files": files,
                "entered": None if before is None else len(now_ids - before),
                "exited": None if before is None else len(before - now_ids),
            }
        )
    manifest = {
        "date": day.isoformat(),
        "previous_export": previous,
        "segments": entries,
    }
    out.write(MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return ExportResult(out, manifest)


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    (count,) = con.sql(f"SELECT count(*) FROM ({sql})").fetchall()[0]
    return int(count)


def _previous_export(root: Location, day: date) -> str | None:
    """The latest date before `day` whose export finished (its manifest is written last)."""
    earlier = [d for d in root.directories() if d < day.isoformat()]
    return next((d for d in reversed(earlier) if root.exists(f"{d}/{MANIFEST}")), None)


def _ids(root: Location, directory: str, name: str) -> set[str] | None:
    try:
        data = root.read(f"{directory}/{name}")
    except FileNotFoundError:
        return None
    ids = pq.read_table(pa.BufferReader(data), columns=["profile_id"]).column("profile_id")
    return set(ids.to_pylist())
