"""Change-stream events to Delta rows: pure functions, one per table.

A change that cannot be converted (wrong type in a field, money finer than the table's scale, an update
without its post-image) still becomes a row: typed columns null, `sync_error` saying why and `document`
holding the original, so the stream never stops on it and nothing disappears without a trace.

Snapshot documents (a new epoch) arrive as pseudo-changes with operationType "snapshot". Deletes never
reach these functions: only an erasure deletes from the watched collections, and the stream removes the
document's rows instead of writing one (sync/stream.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
from bson import json_util
from bson.decimal128 import Decimal128

from profiles.money import decimal_of
from sync.tables import MONEY_SCALE, SEQ_PER_BATCH

_JSON = json_util.RELAXED_JSON_OPTIONS
MAX_MONEY_DIGITS = 38 - MONEY_SCALE


class Unconvertible(ValueError):
    """A field of a change does not fit its typed column; the message names the field."""


@dataclass(frozen=True)
class Position:
    """Where a change lands: its commit (batch), epoch and place in the batch."""

    batch: int
    epoch: int
    index: int


def to_json(value: Any) -> str:
    """Relaxed Extended JSON, exactly as `json_util.dumps` writes it, several times faster: the C JSON
    encoder walks the document and only BSON types reach Python. A value the encoder refuses (a set, a
    non-finite float, which json_util writes as {"$numberDouble": ...}) goes the slow way."""
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError):
        return json_util.dumps(value, json_options=_JSON)


# A profile repeats its times and amounts in every version: their Extended JSON values are kept, ready
# for the encoder (which only reads them), by value: equal keys are the same UTC instant or the same
# Decimal128 bits, hence the same text. Emptied when full.
_READY: dict[Any, dict[str, str]] = {}
READY_MAX = 1 << 16


def _bson_default(value: Any) -> Any:
    kind = type(value)
    if kind is datetime and (value.tzinfo is None or value.tzinfo is UTC) and value.year >= 1970:
        return _READY.get(value) or _ready(value, {"$date": _iso_date(value)})
    if kind is Decimal128:
        bid = value.bid
        if (found := _READY.get(bid)) is not None:
            return found
        if (number := decimal_of(value)).is_finite():
            return _ready(bid, {"$numberDecimal": str(number)})
    return json_util.default(value, _JSON)


def _ready(key: Any, value: dict[str, str]) -> dict[str, str]:
    if len(_READY) >= READY_MAX:
        _READY.clear()
    _READY[key] = value
    return value


def _iso_date(value: datetime) -> str:
    """A UTC (or naive, meaning UTC) time as json_util writes it."""
    millis = value.microsecond // 1000
    return f"{value.isoformat(timespec='seconds')[:19]}{f'.{millis:03d}' if millis else ''}Z"


_ENCODER = json.JSONEncoder(default=_bson_default, allow_nan=False, check_circular=False)


def change_time(change: dict[str, Any]) -> datetime | None:
    """When MongoDB made the change: wallTime (6.0+), else the cluster time's seconds."""
    wall = change.get("wallTime")
    if isinstance(wall, datetime):
        return wall.astimezone(UTC) if wall.tzinfo else wall.replace(tzinfo=UTC)
    cluster = change.get("clusterTime")
    return datetime.fromtimestamp(cluster.time, UTC) if cluster is not None else None


def key_of(change: dict[str, Any]) -> str | None:
    """The changed document's `_id`, as the tables' key columns hold it."""
    return _str_or_none(change.get("documentKey", {}).get("_id"))


def profile_row(change: dict[str, Any], at: Position) -> dict[str, Any]:
    op = change["operationType"]
    key = change.get("documentKey", {}).get("_id")
    base = _base(change, at, op) | {"profile_id": key, "seq": at.batch * SEQ_PER_BATCH + at.index}
    doc = change.get("fullDocument")
    return _guarded(base, doc, lambda: _profile_columns(doc))


def identity_row(change: dict[str, Any], at: Position) -> dict[str, Any]:
    op = change["operationType"]
    base = _base(change, at, op) | {"change_id": key_of(change)}
    doc = change.get("fullDocument")
    if op not in ("insert", "replace", "snapshot"):
        return base | {"sync_error": f"unexpected {op} of an identity event", "document": to_json(change)}
    return _guarded(base, doc, lambda: _identity_columns(doc))


def event_row(change: dict[str, Any], at: Position) -> dict[str, Any] | None:
    """None for a merge re-pointing an event's profile_id: identity_changes already records that."""
    op = change["operationType"]
    base = _base(change, at, op) | {"event_id": key_of(change)}
    if op == "update" and is_reassignment(change):
        return None
    if op not in ("insert", "replace", "snapshot"):
        return base | {"sync_error": f"unexpected {op} of an event", "document": to_json(change)}
    doc = change.get("fullDocument")
    return _guarded(base, doc, lambda: _event_columns(doc))


def is_reassignment(change: dict[str, Any]) -> bool:
    update = change.get("updateDescription") or {}
    return set(update.get("updatedFields", {})) == {"profile_id"} and not update.get("removedFields")


def _base(change: dict[str, Any], at: Position, op: str) -> dict[str, Any]:
    return {
        "operation": op,
        "change_time": change_time(change),
        "sync_batch": at.batch,
        "sync_epoch": at.epoch,
    }


def _guarded(base: dict[str, Any], doc: Any, columns: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    if not isinstance(doc, dict):
        return base | {"sync_error": "no document (post-image missing)", "document": None}
    try:
        return base | columns()
    except (Unconvertible, KeyError, TypeError, AttributeError) as exc:
        return base | {"sync_error": f"{type(exc).__name__}: {exc}", "document": to_json(doc)}


def _profile_columns(doc: dict[str, Any]) -> dict[str, Any]:
    stats = _mapping(doc, "stats")
    channels = _mapping(doc, "channels")
    identifiers = _mapping(doc, "identifiers")
    return {
        "version": _int(doc, "version", required=False),
        "created_at": _time(doc, "created_at"),
        "updated_at": _time(doc, "updated_at"),
        "first_seen": _time(doc, "first_seen"),
        "last_seen": _time(doc, "last_seen"),
        "event_count": _int(doc, "event_count", required=False),
        "stats": [
            {"type": t, "count": _int(s, "count"), "amount": _money(s, "amount")}
            for t, s in sorted(stats.items())
        ],
        "channels": [{"channel": c, "last_at": _time(channels, c, required=True)} for c in sorted(channels)],
        "identifiers": sorted(
            (
                {
                    "type": _text(i, "type"),
                    "value": _text(i, "value"),
                    "first_seen": _time(i, "first_seen"),
                    "last_seen": _time(i, "last_seen"),
                }
                for i in identifiers.values()
            ),
            key=lambda i: (i["type"], i["value"]),
        ),
        "merged_from": _texts(doc, "merged_from"),
        "merged_into": _text(doc, "merged_into", required=False),
        "merged_at": _time(doc, "merged_at"),
        "segments": _texts(doc, "segments"),
        "document": to_json(doc),
    }


def _identity_columns(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": _text(doc, "kind"),
        "survivor": _text(doc, "survivor", required=False),
        "merged": _text(doc, "merged", required=False),
        "merged_first_seen": _time(doc, "merged_first_seen"),
        "at": _time(doc, "at"),
        "evidence": to_json(doc.get("evidence")),
        "document": to_json(doc),
    }


def _event_columns(doc: dict[str, Any]) -> dict[str, Any]:
    occurred_at = _time(doc, "occurred_at", required=True)
    assert occurred_at is not None
    return {
        "schema_version": _int(doc, "schema_version"),
        "source": _text(doc, "source"),
        "type": _text(doc, "type"),
        "occurred_at": occurred_at,
        "occurred_date": occurred_at.date(),
        "channel": _text(doc, "channel", required=False),
        "identifiers": [{"type": _text(i, "type"), "value": _text(i, "value")} for i in doc["identifiers"]],
        "amount": _money(doc, "amount"),
        "currency": _text(doc, "currency", required=False),
        "attributes": to_json(doc.get("attributes") or {}),
        "change": None if doc.get("change") is None else to_json(doc["change"]),
        "profile_id": _text(doc, "profile_id", required=False),
        "ingested_at": _time(doc, "ingested_at"),
        "document": None,
    }


def _mapping(doc: dict[str, Any], field: str) -> dict[str, Any]:
    value = doc.get(field) or {}
    if not isinstance(value, dict):
        raise Unconvertible(f"{field} is a {type(value).__name__}, not an object")
    return value


def _time(doc: dict[str, Any], field: str, *, required: bool = False) -> datetime | None:
    value = doc.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, datetime):
        raise Unconvertible(f"{field} is a {type(value).__name__}, not a date")
    return value.astimezone(UTC) if value.tzinfo else value  # naive is UTC, for Arrow too


def _int(doc: dict[str, Any], field: str, *, required: bool = True) -> int | None:
    value = doc.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise Unconvertible(f"{field} is a {type(value).__name__}, not an integer")
    return value


def _text(doc: dict[str, Any], field: str, *, required: bool = True) -> str | None:
    value = doc.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise Unconvertible(f"{field} is a {type(value).__name__}, not a string")
    return value


def _texts(doc: dict[str, Any], field: str) -> list[str] | None:
    value = doc.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Unconvertible(f"{field} is not a list of strings")
    return value


def _money(doc: dict[str, Any], field: str) -> Decimal | None:
    """Exact or refused: a value finer than the scale or too large never gets rounded."""
    value = doc.get(field)
    if value is None:
        return None
    if isinstance(value, Decimal128):
        value = decimal_of(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise Unconvertible(f"{field} is not a finite decimal: {value!r}")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent < -MONEY_SCALE and value != value.quantize(Decimal(1).scaleb(-MONEY_SCALE)):
        raise Unconvertible(f"{field} {value} has more than {MONEY_SCALE} decimal places")
    if value.adjusted() >= MAX_MONEY_DIGITS:
        raise Unconvertible(f"{field} {value} exceeds {MAX_MONEY_DIGITS} integer digits")
    return value.quantize(Decimal(1).scaleb(-MONEY_SCALE))


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else (None if value is None else str(value))


def rows_to_table(rows: list[dict[str, Any]], schema: pa.Schema, key: str) -> pa.Table:
    """One Arrow table; should a row still not fit (a check missed above), only that row becomes an
    error row instead of the batch failing."""
    try:
        return pa.Table.from_pylist(rows, schema)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        return pa.concat_tables([_one_row(row, schema, key) for row in rows])


def _one_row(row: dict[str, Any], schema: pa.Schema, key: str) -> pa.Table:
    try:
        return pa.Table.from_pylist([row], schema)
    except (pa.ArrowException, OverflowError, TypeError, ValueError) as exc:
        keep = ("operation", "change_time", "sync_batch", "sync_epoch", "seq", key)
        error = {k: row.get(k) for k in keep} | {
            "sync_error": f"arrow: {exc}",
            "document": row.get("document") or to_json({k: str(v) for k, v in row.items()}),
        }
        return pa.Table.from_pylist([error], schema)
