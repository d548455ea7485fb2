"""One row of a batch file in, a canonical event or a dead letter out: pure, like ingest/records.py.

Rows arrive as read (ingest/file_reader.py): a JSON Lines line as its bytes (decoded as strictly as a
Kafka record), a CSV row as its cells' bytes (decoded here with the file's encoding, so that a bad byte
refuses one row and names its column), a Parquet row as Arrow's Python values (times and dates become
ISO text, so the mapping's time formats read them as they read JSON). Then the file's mapping applies:
`events` exactly as a topic's source mapping, `state` as a table mapping whose row versions are ordered
by the row's `as_of`. Event ids come from the mapping's natural key, else from the row's content, so a
row imported twice, from the same file or from another, is the same event.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from ingest.cdc import columns_of
from ingest.errors import DecodeError, IngestError, MappingError
from ingest.events import CanonicalEvent, build_event, event_id_for
from ingest.mappings import MISSING, FileSource, StateMapping, identifiers_of, to_canonical
from ingest.records import decode_json

FileFormat = Literal["csv", "parquet", "jsonl"]


@dataclass(frozen=True, slots=True)
class FileRow:
    """A data row and where it is: `number` counts data rows from 1 (a CSV header is not one; None for a
    malformed CSV row, which pyarrow reports without one), `line` is a JSON Lines file's line,
    `row_group` a Parquet file's row group."""

    file: str
    number: int | None
    format: FileFormat
    content: bytes | dict[str, Any]
    line: int | None = None
    row_group: int | None = None


@dataclass(frozen=True)
class RowDeadLetter:
    """A row that cannot become an event: why, which column (`$`: the whole row), and its bytes."""

    row: FileRow
    reason: str
    field: str
    message: str

    @property
    def raw(self) -> bytes:
        return raw_bytes(self.row)


def translate_row(
    source: FileSource, row: FileRow, encoding: str, max_bytes: int
) -> CanonicalEvent | RowDeadLetter:
    """The row's event, or a dead letter naming the column at fault; never raises for bad input."""
    try:
        payload = _payload(row, encoding, max_bytes)
        if source.events is not None:  # the content is only read for an id when there is no natural key
            content = b"" if source.events.event_id else _content_bytes(row, payload)
            return to_canonical(source.events, payload, content)
        assert source.state is not None
        return _state_event(source.state, payload, _content_bytes(row, payload))
    except IngestError as exc:
        return RowDeadLetter(row, exc.reason, exc.field, exc.message)
    except Exception as exc:  # the last resort: a bug met on one row must not stop the import
        return RowDeadLetter(row, "internal", "$", f"{type(exc).__name__}: {exc}")


def raw_bytes(row: FileRow) -> bytes:
    """The row as a dead letter keeps it: a JSON line as it was, other rows as a JSON object of their
    cells (undecodable bytes escaped), in the file's column order."""
    if isinstance(row.content, bytes):
        return row.content
    cells = {
        name: value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
        for name, value in row.content.items()
    }
    return json.dumps(cells, default=str, ensure_ascii=False).encode()


def _payload(row: FileRow, encoding: str, max_bytes: int) -> Any:
    if isinstance(row.content, bytes):
        return decode_json(row.content, max_bytes)
    if row.format == "csv":
        return {name: _cell(name, value, encoding) for name, value in row.content.items()}
    return {name: plain(value) for name, value in row.content.items()}


def _cell(column: str, value: bytes | None, encoding: str) -> str | None:
    if value is None:
        return None
    try:
        return value.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DecodeError(column, f"not {encoding} text (byte {exc.start})") from None


def plain(value: Any) -> Any:
    """Arrow's Python values in the vocabulary mappings read: times and dates as ISO text (an aware
    timestamp keeps its offset; a naive one stays naive, for the mapping's `timezone` to judge)."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _content_bytes(row: FileRow, payload: Any) -> bytes:
    """What identifies a row without a natural key: a JSON line's bytes (as for a Kafka record), else its
    cells in name order, so that the same row in a file with its columns reordered is the same event."""
    if isinstance(row.content, bytes):
        return row.content
    return json.dumps(payload, sort_keys=True, default=str, separators=(",", ":")).encode()


def _state_event(mapping: StateMapping, row: Any, content: bytes) -> CanonicalEvent:
    """A row that is its customer's state as of `as_of`: an upsert whose position is that as-of, so that
    a later file replaces it and an older file imported afterwards changes nothing."""
    if not isinstance(row, dict):
        raise MappingError("$", f"expected a JSON object, got {type(row).__name__}")
    key = _row_key(mapping, row)
    columns = columns_of(mapping.columns, row)
    as_of = columns.get("as_of")
    if as_of is None:
        raise MappingError(mapping.columns["as_of"].field or "as_of", "required field is missing")
    position = as_of if isinstance(as_of, str) else as_of.isoformat(timespec="microseconds")
    digest = hashlib.blake2b(content, digest_size=16).hexdigest()
    at = as_of if isinstance(as_of, datetime) else datetime.fromisoformat(as_of).replace(tzinfo=UTC)
    return build_event(
        event_id=event_id_for(mapping.source, f"{mapping.table}\x1f{key}\x1f{position}\x1f{digest}"),
        source=mapping.source,
        type=mapping.table,
        occurred_at=at,
        identifiers=identifiers_of(mapping.identifiers, row),
        change={
            "op": "upsert",
            "table": f"{mapping.source}.{mapping.table}",
            "entity": mapping.entity,
            "key": key,
            "position": position,
            "row": columns,
        },
    )


def _row_key(mapping: StateMapping, row: dict[str, Any]) -> str:
    """The key columns' values as canonical JSON text, as ingest/cdc.py keys a captured row."""
    values = []
    for name in mapping.key:
        value = row.get(name, MISSING)
        if value is MISSING or value is None or isinstance(value, dict | list):
            raise MappingError(name, "row key column is missing or not a scalar")
        values.append(value)
    return json.dumps(values, default=str, separators=(",", ":"))
