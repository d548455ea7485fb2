"""Nightly segment exports: each segment's audience as Parquet and CSV plus a manifest, for one date.

`<exports_path>/<date>/<segment>.parquet|.csv` and `manifest.json` (row counts, SHA-256 of every file,
members entered and exited since the previous export on disk). The lake is read as of the end of the
date (Delta time travel), rows are sorted and files carry no run time, so rerunning a past date writes
byte-identical files. Marketing segments drop members without marketing consent (see segments.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from lakehouse.files import write_table
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
    directory: Path
    manifest: dict[str, Any]


def export_segments(
    con: duckdb.DuckDBPyConnection, segments: list[Segment], day: date, root: Path
) -> ExportResult:
    out = root / day.isoformat()
    out.mkdir(parents=True, exist_ok=True)
    previous = _previous_export(root, day)
    entries = []
    for segment in segments:
        rows = con.sql(_CONTACT.format(audience=audience_sql(segment))).to_arrow_table()
        members = _count(con, members_sql(segment))
        files = {}
        for suffix in ("parquet", "csv"):
            path = out / f"{segment.name}.{suffix}"
            write_table(rows, path, suffix)
            files[suffix] = {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        now_ids = set(rows.column("profile_id").to_pylist())
        before = _ids(previous / f"{segment.name}.parquet") if previous else None
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
        "previous_export": previous.name if previous else None,
        "segments": entries,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return ExportResult(out, manifest)


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    (count,) = con.sql(f"SELECT count(*) FROM ({sql})").fetchall()[0]
    return int(count)


def _previous_export(root: Path, day: date) -> Path | None:
    earlier = sorted(p for p in root.glob("*/" + MANIFEST) if p.parent.name < day.isoformat())
    return earlier[-1].parent if earlier else None


def _ids(path: Path) -> set[str] | None:
    if not path.exists():
        return None
    return set(pq.read_table(path, columns=["profile_id"]).column("profile_id").to_pylist())
