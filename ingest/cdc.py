"""A Debezium record of a mapped table in, a canonical event carrying a `RowChange` out; pure.

The decoder (ingest/debezium.py) reads every envelope and encoding; this module applies the table's
mapping: which columns form the row key, which name the customer, and which the profile keeps, converted
to types MongoDB stores exactly (Decimal money, UTC datetimes, ISO dates). Inserts, updates and snapshot
reads become upserts; the row key comes from the image or, when the image lacks it (a PostgreSQL delete
with the default replica identity, a MongoDB delete), from the Kafka key. Deletes and truncates name no
customer: the writer finds the profiles from the rows it keeps. Tombstones and logical messages carry no
state and give None.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from ingest.debezium import ChangeEvent, Position, decode_change, precise_decimal
from ingest.errors import MappingError
from ingest.events import CanonicalEvent, build_event, event_id_for
from ingest.mappings import MISSING, ColumnSpec, TableMapping, identifiers_of, money_of, text_of

_OPS = {"c": "upsert", "u": "upsert", "r": "upsert", "d": "delete", "t": "truncate"}
_EPOCH_DATE = date(1970, 1, 1)


def change_to_canonical(
    mapping: TableMapping, key: bytes | None, value: bytes | None, timestamp_ms: int, max_bytes: int
) -> CanonicalEvent | None:
    """Decode and map one record; raises an IngestError naming the field, None for tombstones/messages."""
    decoded = decode_change(
        key, value, max_bytes=max_bytes, connector=mapping.connector, flattened=mapping.flattened
    )
    if not isinstance(decoded, ChangeEvent):
        return None
    op = _OPS[decoded.op]
    image = decoded.before if op == "delete" else decoded.after
    if op == "upsert" and image is None:
        if decoded.patch is not None:
            raise MappingError(
                "patch",
                "a legacy MongoDB oplog update (patch) holds only the changed fields, and c360 keeps "
                "whole rows: capture with change streams and full documents "
                "(capture.mode=change_streams_update_full)",
            )
        raise MappingError("after", "an update without the row's full state cannot replace the row")
    row_key = None if op == "truncate" else row_key_of(mapping, image, decoded.key)
    position = encode_position(decoded.position)
    natural = f"{mapping.table}\x1f{row_key}\x1f{decoded.op}\x1f{_log_identity(decoded, value)}"
    return build_event(
        event_id=event_id_for(mapping.source, natural),
        source=mapping.source,
        type=mapping.table,
        occurred_at=_occurred_at(decoded, timestamp_ms),
        identifiers=identifiers_of(mapping.identifiers, image) if op == "upsert" and image else [],
        change={
            "op": op,
            "table": f"{mapping.source}.{mapping.table}",
            "entity": mapping.entity,
            "key": row_key,
            "position": position,
            "row": columns_of(mapping.columns, image) if op == "upsert" and image else {},
        },
    )


def _log_identity(decoded: ChangeEvent, value: bytes | None) -> str:
    """What names this change in the source's log, the same on every delivery.

    A PostgreSQL position leads with the last commit LSN, which a connector sends as null for its first
    event after a start, so a re-delivery after a restart can differ there: the change's own LSN is its
    name. Without any position only the exact bytes can recognise a re-delivery.
    """
    position = decoded.position
    if position is None:
        return "bytes:" + hashlib.blake2b(value or b"", digest_size=16).hexdigest()
    return encode_position(position[1:] if decoded.source.connector == "postgresql" else position) or ""


def encode_position(position: Position | None) -> str | None:
    """A source position as a string whose order is the tuple's (non-negative ints, 20 digits each)."""
    if position is None:
        return None
    return ".".join(f"{part:020d}" for part in position)


def row_key_of(mapping: TableMapping, image: dict[str, Any] | None, kafka_key: dict[str, Any] | None) -> str:
    """The row's key columns, from the image or else the Kafka key, as canonical JSON text."""
    values = [image.get(name, MISSING) for name in mapping.key] if image else []
    if not values or MISSING in values or None in values:
        values = _from_kafka_key(mapping, kafka_key)
    return json.dumps(values, default=str, separators=(",", ":"))


def _from_kafka_key(mapping: TableMapping, kafka_key: dict[str, Any] | None) -> list[Any]:
    if not kafka_key:
        raise MappingError("key", f"the row key {mapping.key} is in neither the row image nor the Kafka key")
    if all(name in kafka_key for name in mapping.key):
        return [kafka_key[name] for name in mapping.key]
    if len(mapping.key) == 1 and len(kafka_key) == 1:  # MongoDB keys name `_id` "id"
        return list(kafka_key.values())
    raise MappingError("key", f"the Kafka key {sorted(kafka_key)} does not hold the row key {mapping.key}")


def columns_of(specs: dict[str, ColumnSpec], row: dict[str, Any]) -> dict[str, Any]:
    """The columns the profile keeps; absent optional columns are left out."""
    out: dict[str, Any] = {}
    for name, spec in specs.items():
        value = spec.extract(row)
        if value is not MISSING:
            out[name] = _CONVERT[spec.kind](spec, row, value)
    return out


def _occurred_at(decoded: ChangeEvent, timestamp_ms: int) -> datetime:
    """When the source committed the change; the Kafka timestamp when the event does not say."""
    candidates = (("source.ts_ms", decoded.source.ts_ms), ("ts_ms", decoded.ts_ms))
    field, millis = next(((name, ms) for name, ms in candidates if ms), ("$", timestamp_ms))
    try:
        return datetime.fromtimestamp(millis / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        raise MappingError(field, f"{millis} ms since 1970 is not a representable time") from None


def _text(spec: ColumnSpec, row: dict[str, Any], value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text_of(spec, row)


def _money(spec: ColumnSpec, row: dict[str, Any], value: Any) -> Decimal:
    """A schemaless precise decimal (base64 text) only at the scale the mapping declares: nothing in the
    record says its scale, and read as decimal text, base64 that happens to be digits is another number."""
    if spec.scale is not None and isinstance(value, str):
        try:
            return precise_decimal(value, spec.scale)
        except ValueError as exc:
            message = f"a precise decimal at scale {spec.scale}: {exc}"
            raise MappingError(spec.field or "const", message) from None
    return money_of(spec, row)


def _integer(spec: ColumnSpec, row: dict[str, Any], value: Any) -> int:
    """Integers of at most 19 digits (MongoDB stores 64 bits); longer text is refused before int()."""
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() < 19:
        if value == value.to_integral_value():
            return int(value)
    elif isinstance(value, str) and len(value) <= 40 and value.strip().lstrip("-").isdigit():
        return int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        return value
    raise MappingError(spec.field or "const", f"expected an integer, got {value!r:.40}")


def _date(spec: ColumnSpec, row: dict[str, Any], value: Any) -> str:
    """ISO date text (BSON has no date type): from a date, days since 1970 (schemaless), or ISO text."""
    try:
        if isinstance(value, datetime):
            return value.astimezone(UTC).date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, int) and not isinstance(value, bool):
            return (_EPOCH_DATE + timedelta(days=value)).isoformat()
        if isinstance(value, str):
            return date.fromisoformat(value.strip()[:10]).isoformat()
    except (ValueError, OverflowError):
        pass
    raise MappingError(spec.field or "const", f"{value!r:.40} is not a date")


def _datetime(spec: ColumnSpec, row: dict[str, Any], value: Any) -> datetime:
    """Aware UTC: a decoded timestamp, or ISO text with an offset (a ZonedTimestamp without schema)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise MappingError(spec.field or "const", f"{value!r:.40} is not an ISO-8601 timestamp") from None
    if not isinstance(value, datetime):
        raise MappingError(spec.field or "const", f"expected a timestamp, got {type(value).__name__}")
    if value.tzinfo is None:
        raise MappingError(spec.field or "const", f"{value.isoformat()} has no UTC offset")
    return value.astimezone(UTC)


def _items(spec: ColumnSpec, row: dict[str, Any], value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise MappingError(spec.field or "const", f"expected a list of items, got {type(value).__name__}")
    return [_storable(item) for item in value]


def _any(spec: ColumnSpec, row: dict[str, Any], value: Any) -> Any:
    return _storable(value)


def _storable(value: Any) -> Any:
    """Dates and times of day as ISO text (BSON stores neither), UUIDs as text and bytes as base64 (as
    Debezium's own JSON writes them), recursively; the rest as decoded (ingest/storable.py checks it)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


_CONVERT = {
    "text": _text,
    "money": _money,
    "integer": _integer,
    "date": _date,
    "datetime": _datetime,
    "items": _items,
    "any": _any,
}
