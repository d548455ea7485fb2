"""One Debezium change record (Kafka key and value bytes) decoded into a typed change; pure, no I/O.

Debezium output is messy: with or without the JsonConverter schema envelope, several source-block
generations, tombstones, MongoDB documents as Extended JSON strings, decimals as base64 bytes. This module
turns all of it into `ChangeEvent` (op c/u/d/r/t), `Tombstone` or `LogicalMessage` (op m), or raises
`DecodeError` naming the field. Values are typed from the schema when there is one (Decimal, date, time,
aware UTC datetime, parsed JSON); without a schema they stay as JSON gave them (int, Decimal, str), and the
mapping layer types them. Money is never a float.

Representation choices (see also the docstrings below):
- Timestamps are aware UTC datetimes; NanoTimestamp/NanoTime are truncated (floored) to microseconds,
  Python's resolution. PostgreSQL's +/-infinity sentinels become `POSITIVE_INFINITY`/`NEGATIVE_INFINITY`
  (datetime.max / datetime.min, UTC), an open end rather than an error.
- A time of exactly 24:00:00 (PostgreSQL allows it) becomes `time.max`.
- `decimal.handling.mode=string` values stay the exact string ("146.36"): nothing in the schema says the
  string is a number. `double` values become Decimal exactly as written in the JSON.
- MongoDB Extended JSON: ObjectId -> hex str, Decimal128 -> Decimal, Int64 -> int, double -> Decimal (its
  shortest repr), datetime -> aware UTC, UUID binary -> uuid.UUID, other binary -> bytes.
- The MongoDB key {"id": "<_id as Extended JSON>"} keeps the name `id`, its value decoded. A Mongo key can
  only be recognised by its connector: the value's source says so, but a tombstone has no value, so pass
  `connector="mongodb"` for Mongo topics.
- A flattened record (ExtractNewRecordState / ExtractNewDocumentState SMT output, `flattened=True`) is a
  `ChangeEvent` with `flattened=True`: op from `__op` when the SMT added it, "d" when `__deleted` is true,
  otherwise "r" ("this is the row's current state", an upsert, as a snapshot read is). Fields with the
  SMT's `__` prefix leave the row: `__op`, `__deleted`, `__ts_ms|us|ns` are the event's; `__source_x`
  and any other `__x` become source field `x` (so `__lsn`, `__table`, `__source_ts_ms` feed `Source`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from bson import json_util
from bson.decimal128 import Decimal128
from bson.errors import BSONError
from bson.int64 import Int64
from bson.json_util import JSONOptions
from bson.objectid import ObjectId

from ingest import bounded_json
from ingest.errors import DecodeError
from ingest.storable import exact_decimal128

Op = Literal["c", "u", "d", "r", "t"]
Position = tuple[int, ...]

OPS: frozenset[str] = frozenset("cudrt")
DEFAULT_MAX_BYTES = 1_000_000

# PostgreSQL 'infinity' / '-infinity' TIMESTAMP values, as Debezium emits them whatever the precision.
PG_POSITIVE_INFINITY = 9223372036825200000
PG_NEGATIVE_INFINITY = -9223372036832400000
POSITIVE_INFINITY = datetime.max.replace(tzinfo=UTC)
NEGATIVE_INFINITY = datetime.min.replace(tzinfo=UTC)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)
_DAY_US = 86_400_000_000
_UNITS = {1000: "milliseconds", 1_000_000: "microseconds", 10**9: "nanoseconds"}
_FRACTION = re.compile(r"(\.\d{6})\d+")
_INTEGER = re.compile(r"-?\d{1,20}")
_BINLOG_FILE = re.compile(r".*\.(\d+)")
_MONGO_JSON = JSONOptions(tz_aware=True, tzinfo=UTC)
_SMT_PREFIX = "__"
_ENVELOPE_KEYS = frozenset(("schema", "payload"))
_SMT_TIMES = ("__ts_ms", "__ts_us", "__ts_ns")
_SNAPSHOT_BOOL = {True: "true", False: "false"}
# What bson's Extended JSON hook raises on a malformed wrapper: `{"$numberDecimal": "abc"}` raises
# decimal.InvalidOperation, an ArithmeticError.
_BSON_ERRORS = (ValueError, TypeError, KeyError, ArithmeticError, BSONError, RecursionError)
# Positions and times are at most 20 digits (2**64 has 20): a bigger number is refused before int().
_MAX_INT_DIGITS = 20
_INT_BOUND = 10**_MAX_INT_DIGITS
# An unscaled decimal of more bytes holds more digits than Decimal128 (34) could ever store.
_MAX_DECIMAL_BYTES = 32


@dataclass(frozen=True, slots=True)
class Source:
    """The source block, kept whole in `raw`, plus the fields c360 reads normalized.

    `position` orders changes of one connector and one source database, so that re-delivered and
    out-of-order events can be recognised (None when the block lacks what it needs):
    - postgresql: (commit_lsn, lsn). commit_lsn is the first element of `sequence` (the last commit LSN,
      rising in commit order; the lsn itself when absent): a transaction that commits later can hold
      changes with lower LSNs, so lsn alone does not order transactions.
    - mysql / mariadb: (binlog file number, pos, row); the number is the file name's numeric extension.
    - mongodb: (ts_ms, ord) — the oplog/cluster time in ms and its increment.
    Positions may tie (snapshot rows, rows of one binlog event); a tie means "same point in the log".
    """

    connector: str | None
    name: str | None
    db: str | None
    schema: str | None
    table: str | None
    snapshot: str | None
    ts_ms: int | None
    ts_us: int | None
    ts_ns: int | None
    position: Position | None
    raw: dict[str, Any]

    @property
    def is_snapshot(self) -> bool:
        """True for rows read by an initial, blocking or incremental snapshot."""
        return self.snapshot is not None and self.snapshot != "false"


@dataclass(frozen=True, slots=True)
class Transaction:
    """Debezium's transaction block (provide.transaction.metadata=true); orders are ints."""

    id: str
    total_order: int | None
    data_collection_order: int | None


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One row change. `key` is the decoded Kafka key: the row identity when before and after are null.

    Rows (`before`, `after`, `updated_fields`) are plain dicts; treat them as read-only. Columns the
    mapping does not know are kept.
    """

    op: Op
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    key: dict[str, Any] | None
    source: Source
    ts_ms: int | None = None
    ts_us: int | None = None
    ts_ns: int | None = None
    transaction: Transaction | None = None
    updated_fields: dict[str, Any] | None = None
    removed_fields: tuple[str, ...] | None = None
    flattened: bool = False
    # A legacy MongoDB oplog update (connector 1.x, oplog capture mode): the changed fields only, as
    # the oplog's operators ({"$set": {...}, "$unset": {...}}); `after` is null.
    patch: dict[str, Any] | None = None

    @property
    def position(self) -> Position | None:
        return self.source.position


@dataclass(frozen=True, slots=True)
class Tombstone:
    """A null value (or the older {"schema":null,"payload":null}): compaction marker after a delete."""

    key: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class LogicalMessage:
    """A PostgreSQL logical decoding message (op m): not a row change; callers count and skip it."""

    prefix: str | None
    content: bytes | None
    key: dict[str, Any] | None
    source: Source
    ts_ms: int | None = None


Decoded = ChangeEvent | Tombstone | LogicalMessage


def decode_change(
    key: bytes | None,
    value: bytes | None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    connector: str | None = None,
    flattened: bool = False,
) -> Decoded:
    """Decode one Kafka record of a Debezium topic, or raise DecodeError naming the field.

    `connector` is a hint for records that do not say (tombstones, schemaless legacy blocks); the
    source block's own `connector` wins. `flattened` says the topic carries SMT-flattened rows.
    """
    schema, payload, enveloped = _unwrap(_parse(value, max_bytes, "$"), "")
    if payload is None:
        return Tombstone(decode_key(key, connector=connector, max_bytes=max_bytes))
    if not isinstance(payload, dict):
        where = "payload" if enveloped else "$"
        raise DecodeError(where, f"expected a JSON object (a change event), got {_kind(payload)}")
    if flattened:
        return _flattened(payload, schema, key, connector, max_bytes)
    return _envelope(payload, schema, key, connector, max_bytes)


def decode_key(
    key: bytes | None, *, connector: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> dict[str, Any] | None:
    """The Kafka key as a dict of the row's key columns, typed by its schema when it carries one."""
    if key is None:
        return None
    schema, payload, _ = _unwrap(_parse(key, max_bytes, "key"), "key.")
    if payload is None:
        return None
    if not isinstance(payload, dict):
        raise DecodeError("key", f"expected a JSON object (the row's key columns), got {_kind(payload)}")
    if schema is not None:
        payload = _convert(schema, payload, "key", "key.schema")
    if connector == "mongodb" and isinstance(payload.get("id"), str):
        payload = {**payload, "id": _mongo_id(payload["id"])}
    return payload


def decode_connect_value(raw: bytes | None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Any JsonConverter value (schema envelope or bare JSON), with its schema's logical types applied."""
    schema, payload, _ = _unwrap(_parse(raw, max_bytes, "$"), "")
    if schema is None or payload is None:
        return payload
    return _convert(schema, payload, "payload", "schema")


# --- envelope ------------------------------------------------------------------------------------------


def _envelope(
    payload: dict[str, Any],
    schema: dict[str, Any] | None,
    key: bytes | None,
    hint: str | None,
    max_bytes: int,
) -> ChangeEvent | LogicalMessage:
    """A Debezium envelope: op, before/after images, source, ts_*, transaction, Mongo updateDescription."""
    op = _op(payload.get("op", _MISSING), "op")
    fields = _envelope_fields(schema)
    source = _source(payload.get("source"), "source", _connector_from_schema(fields.get("source")), hint)
    ts_ms, ts_us, ts_ns = _times(payload, "")
    row_key = decode_key(key, connector=source.connector or hint, max_bytes=max_bytes)
    if op == "m":
        return _message(payload.get("message"), row_key, source, ts_ms)
    before = _row(payload.get("before"), fields.get("before"), "before")
    after = _row(payload.get("after"), fields.get("after"), "after")
    if op in ("c", "r") and after is None:
        raise DecodeError("after", f"an op {op!r} event needs an after image")
    updated, removed = _update_description(payload.get("updateDescription"))
    transaction = _transaction(payload.get("transaction"))
    patch = payload.get("patch")
    if patch is not None:
        if not isinstance(patch, str):
            raise DecodeError("patch", f"expected an Extended JSON string or null, got {_kind(patch)}")
        patch = _mongo_document(patch, "patch")
    return ChangeEvent(
        op, before, after, row_key, source, ts_ms, ts_us, ts_ns, transaction, updated, removed, patch=patch
    )


_MISSING = object()


def _op(value: Any, field: str) -> Literal["c", "u", "d", "r", "t", "m"]:
    if value is _MISSING:
        raise DecodeError(field, "missing: not a Debezium change event (no op)")
    if not isinstance(value, str):
        raise DecodeError(field, f"expected a string, got {_kind(value)}")
    if value not in OPS and value != "m":
        raise DecodeError(field, f"unknown operation {value!r} (expected c, u, d, r, t or m)")
    return value  # type: ignore[return-value]


def _envelope_fields(schema: dict[str, Any] | None) -> dict[str, Any]:
    """The envelope struct's field schemas by name; rows are typed from these."""
    if schema is None:
        return {}
    if schema.get("type") != "struct" or not isinstance(schema.get("fields"), list):
        raise DecodeError("schema", "a change event's schema must be a struct with a fields list")
    fields: dict[str, Any] = {}
    for item in schema["fields"]:
        if not isinstance(item, dict) or not isinstance(item.get("field"), str):
            raise DecodeError("schema.fields", "every field needs a 'field' name")
        fields[item["field"]] = item
    return fields


def _row(value: Any, schema: dict[str, Any] | None, field: str) -> dict[str, Any] | None:
    """A before/after image: a struct (typed by its schema) or a MongoDB Extended JSON string."""
    if value is None:
        return None
    if isinstance(value, str):
        return _mongo_document(value, field)
    if not isinstance(value, dict):
        raise DecodeError(field, f"expected an object, an Extended JSON string or null, got {_kind(value)}")
    return value if schema is None else _convert(schema, value, field, f"schema.{field}")


def _times(block: dict[str, Any], prefix: str) -> tuple[int | None, int | None, int | None]:
    return (
        _int(block.get("ts_ms"), prefix + "ts_ms"),
        _int(block.get("ts_us"), prefix + "ts_us"),
        _int(block.get("ts_ns"), prefix + "ts_ns"),
    )


def _transaction(value: Any) -> Transaction | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise DecodeError("transaction", f"expected an object or null, got {_kind(value)}")
    tx_id = value.get("id")
    if not isinstance(tx_id, str):
        raise DecodeError("transaction.id", f"expected a string, got {_kind(tx_id)}")
    return Transaction(
        tx_id,
        _int(value.get("total_order"), "transaction.total_order"),
        _int(value.get("data_collection_order"), "transaction.data_collection_order"),
    )


def _update_description(value: Any) -> tuple[dict[str, Any] | None, tuple[str, ...] | None]:
    """MongoDB's updateDescription: updatedFields (Extended JSON string) and removedFields."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise DecodeError("updateDescription", f"expected an object or null, got {_kind(value)}")
    updated = value.get("updatedFields")
    if isinstance(updated, str):
        updated = _mongo_document(updated, "updateDescription.updatedFields")
    elif updated is not None and not isinstance(updated, dict):
        raise DecodeError("updateDescription.updatedFields", f"expected a string, got {_kind(updated)}")
    removed = value.get("removedFields")
    if removed is not None:
        if not isinstance(removed, list) or not all(isinstance(name, str) for name in removed):
            raise DecodeError("updateDescription.removedFields", "expected a list of field names or null")
        removed = tuple(removed)
    return updated, removed


def _message(value: Any, key: dict[str, Any] | None, source: Source, ts_ms: int | None) -> LogicalMessage:
    if value is None:
        return LogicalMessage(None, None, key, source, ts_ms)
    if not isinstance(value, dict):
        raise DecodeError("message", f"expected an object, got {_kind(value)}")
    prefix, content = value.get("prefix"), value.get("content")
    if prefix is not None and not isinstance(prefix, str):
        raise DecodeError("message.prefix", f"expected a string, got {_kind(prefix)}")
    if content is not None:
        try:
            content = _base64(content)
        except _Bad as exc:
            raise DecodeError("message.content", exc.message) from None
    return LogicalMessage(prefix, content, key, source, ts_ms)


# --- flattened rows (ExtractNewRecordState / ExtractNewDocumentState) ----------------------------------


def _flattened(
    payload: dict[str, Any],
    schema: dict[str, Any] | None,
    key: bytes | None,
    hint: str | None,
    max_bytes: int,
) -> ChangeEvent:
    """An SMT-flattened row: the row itself, with the SMT's `__` metadata fields lifted out of it."""
    row = payload if schema is None else _convert(schema, payload, "payload", "schema")
    meta = {name: row[name] for name in row if name.startswith(_SMT_PREFIX)}
    if meta:
        row = {name: value for name, value in row.items() if name not in meta}
    op = meta.pop("__op", None)
    deleted = meta.pop("__deleted", None)
    ts = _times({name[2:]: meta.pop(name) for name in _SMT_TIMES if name in meta}, "__")
    raw_source = {name.removeprefix("__source_").removeprefix(_SMT_PREFIX): v for name, v in meta.items()}
    source = _source(raw_source, "__source", None, hint)
    if op is None:
        op = "d" if deleted in (True, "true") else "r"
    op = _op(op, "__op")
    if op == "m":
        raise DecodeError("__op", "a flattened row cannot be a logical message")
    row_key = decode_key(key, connector=source.connector or hint, max_bytes=max_bytes)
    before, after = (row, None) if op == "d" else (None, row)
    return ChangeEvent(op, before, after, row_key, source, *ts, flattened=True)


# --- source block --------------------------------------------------------------------------------------


def _source(value: Any, field: str, from_schema: str | None, hint: str | None) -> Source:
    """Normalize the source block of any connector generation (ts_sec, ts_usec, boolean snapshot)."""
    if value is None:
        value = {}
    elif not isinstance(value, dict):
        raise DecodeError(field, f"expected an object, got {_kind(value)}")
    ts_ms, ts_us, ts_ns = _times(value, field + ".")
    if ts_us is None and "ts_usec" in value:  # PostgreSQL connector before 1.0
        ts_us = _int(value["ts_usec"], field + ".ts_usec")
    if ts_ms is None and ts_us is not None:
        ts_ms = ts_us // 1000
    if ts_ms is None and "ts_sec" in value:  # MySQL connector before 0.10
        seconds = _int(value["ts_sec"], field + ".ts_sec")
        ts_ms = None if seconds is None else seconds * 1000
    connector = _str(value.get("connector"), field + ".connector") or from_schema or hint
    connector = connector or _guess_connector(value)
    table = _str(value.get("table"), field + ".table") or _str(value.get("collection"), field + ".collection")
    return Source(
        connector=connector,
        name=_str(value.get("name"), field + ".name"),
        db=_str(value.get("db"), field + ".db"),
        schema=_str(value.get("schema"), field + ".schema"),
        table=table,
        snapshot=_snapshot(value.get("snapshot"), field + ".snapshot"),
        ts_ms=ts_ms,
        ts_us=ts_us,
        ts_ns=ts_ns,
        position=_position(connector, value, field),
        raw=value,
    )


def _connector_from_schema(schema: Any) -> str | None:
    """'io.debezium.connector.mysql.Source' -> 'mysql': old MySQL events carry no connector field."""
    name = schema.get("name") if isinstance(schema, dict) else None
    if not isinstance(name, str) or not name.startswith("io.debezium.connector."):
        return None
    connector = name.split(".")[3]
    return "mongodb" if connector == "mongo" else connector


def _guess_connector(source: dict[str, Any]) -> str | None:
    """Last resort for blocks without a connector field: the fields only one connector writes."""
    if "lsn" in source:
        return "postgresql"
    if "file" in source and "pos" in source:
        return "mysql"
    if "ord" in source and ("rs" in source or "collection" in source):
        return "mongodb"
    return None


def _snapshot(value: Any, field: str) -> str | None:
    """Old events say true/false, newer ones "true"|"first"|"last"|"incremental"|"false"|...: a str."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return _SNAPSHOT_BOOL[value]
    raise DecodeError(field, f"expected a boolean or a string, got {_kind(value)}")


def _position(connector: str | None, source: dict[str, Any], field: str) -> Position | None:
    if connector == "postgresql":
        lsn = _int(source.get("lsn"), field + ".lsn")
        if lsn is None:
            return None
        commit = _commit_lsn(source.get("sequence"), field + ".sequence")
        return (lsn if commit is None else commit, lsn)
    if connector in ("mysql", "mariadb"):
        binlog = _str(source.get("file"), field + ".file")
        pos = _int(source.get("pos"), field + ".pos")
        match = _BINLOG_FILE.fullmatch(binlog) if binlog else None
        if match is None or pos is None:
            return None
        return (int(match.group(1)), pos, _int(source.get("row"), field + ".row") or 0)
    if connector == "mongodb":
        ts_ms = _int(source.get("ts_ms"), field + ".ts_ms")
        order = _int(source.get("ord"), field + ".ord")
        return None if ts_ms is None or order is None else (ts_ms, order)
    return None


def _commit_lsn(sequence: Any, field: str) -> int | None:
    """source.sequence is '["<last commit lsn>","<lsn>"]' (a JSON string); its first element."""
    if sequence is None:
        return None
    try:
        items = bounded_json.loads(sequence) if isinstance(sequence, str) else None
    except bounded_json.JsonRefused:
        items = None
    if not isinstance(items, list) or len(items) != 2:
        raise DecodeError(field, f"expected a JSON array of two LSNs, got {sequence!r:.60}")
    return _int(items[0], field)


# --- Connect schemas and logical types -----------------------------------------------------------------

Converter = Callable[[Any], Any]


class _Bad(Exception):
    """A value (or schema) refused deep inside a converter; the caller adds the path and raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []


def _convert(schema: Any, value: Any, field: str, schema_field: str) -> Any:
    """Apply a Connect schema to a value; a refusal names the value's (or the schema's) path.

    Compiling per message is cheaper than any cache key (a row schema compiles in ~2 us; serialising it
    to look it up costs ~6 us), so there is no cache.
    """
    try:
        converter = _compile(schema)
    except _Bad as exc:
        raise DecodeError(_join(schema_field, exc.path), exc.message) from None
    if converter is None:
        return value
    try:
        return converter(value)
    except _Bad as exc:
        raise DecodeError(_join(field, exc.path), exc.message) from None


def _compile(schema: Any) -> Converter | None:
    """The converter for one Connect schema, or None when JSON's own value is already the right one."""
    if not isinstance(schema, dict):
        raise _Bad(f"a schema must be an object, got {_kind(schema)}")
    name, kind = schema.get("name"), schema.get("type")
    if not isinstance(kind, str) or not isinstance(name, str | None):
        raise _Bad(f"a schema's type and name must be strings, got {_kind(kind)} and {_kind(name)}")
    if name in _LOGICAL:
        return _LOGICAL[name](schema)
    if kind == "struct":
        return _struct(schema)
    if kind == "array":
        return _array(schema)
    if kind == "map":
        return _map(schema)
    return _PRIMITIVE.get(kind)


def _struct(schema: dict[str, Any]) -> Converter | None:
    fields = schema.get("fields")
    if not isinstance(fields, list):
        raise _Bad("a struct schema needs a fields list")
    converters: list[tuple[str, Converter]] = []
    for item in fields:
        name = item.get("field") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise _Bad("every struct field needs a 'field' name")
        try:
            converter = _compile(item)
        except _Bad as exc:
            exc.path.insert(0, name)
            raise
        if converter is not None:
            converters.append((name, converter))
    if not converters:
        return None

    def convert(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Bad(f"expected an object (struct), got {_kind(value)}")
        out = dict(value)  # unknown columns (schema drift) are kept as they are
        for name, converter in converters:
            item = out.get(name)
            if item is not None:
                try:
                    out[name] = converter(item)
                except _Bad as exc:
                    exc.path.insert(0, name)
                    raise
        return out

    return convert


def _array(schema: dict[str, Any]) -> Converter | None:
    items = _compile(schema.get("items"))
    if items is None:
        return None

    def convert(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise _Bad(f"expected an array, got {_kind(value)}")
        return [None if item is None else items(item) for item in value]

    return convert


def _map(schema: dict[str, Any]) -> Converter | None:
    """Maps with string keys are JSON objects; others are arrays of [key, value] pairs."""
    keys, values = _compile(schema.get("keys")), _compile(schema.get("values"))
    if keys is None and values is None:
        return None

    def one(item: Any, converter: Converter | None) -> Any:
        return item if converter is None or item is None else converter(item)

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: one(v, values) for k, v in value.items()}
        if isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
            return [[one(k, keys), one(v, values)] for k, v in value]
        raise _Bad(f"expected a map (object or array of pairs), got {_kind(value)}")

    return convert


def _decimal(schema: dict[str, Any]) -> Converter:
    """Connect Decimal: base64 two's-complement unscaled bytes, or a JSON number (decimal.format=NUMERIC)."""
    params = schema.get("parameters")
    scale = _scale(params.get("scale") if isinstance(params, dict) else None)

    def convert(value: Any) -> Decimal:
        if isinstance(value, str):
            return _unscaled(value, scale)
        if isinstance(value, Decimal) or (isinstance(value, int) and not isinstance(value, bool)):
            return Decimal(value)
        raise _Bad(f"expected a base64 string or a number for a Decimal, got {_kind(value)}")

    return convert


def _scale(value: Any) -> int:
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= bounded_json.MAX_EXPONENT:
        return value
    raise _Bad(f"a Decimal schema needs an integer parameters.scale, got {value!r:.40}")


def _unscaled(text: Any, scale: int) -> Decimal:
    """Connect's Decimal bytes: base64 of the big-endian two's-complement unscaled integer, at `scale`."""
    if isinstance(text, str) and len(text) > _MAX_DECIMAL_BYTES * 4 // 3 + 4:
        raise _Bad(
            f"a Decimal of {len(text)} base64 characters exceeds the limit of {_MAX_DECIMAL_BYTES} bytes"
        )
    raw = _base64(text)
    if not raw:
        raise _Bad("empty bytes for a Decimal")
    if len(raw) > _MAX_DECIMAL_BYTES:
        raise _Bad(f"a Decimal of {len(raw)} bytes exceeds the limit of {_MAX_DECIMAL_BYTES}")
    return Decimal(f"{int.from_bytes(raw, 'big', signed=True)}E{-scale}")


def precise_decimal(text: Any, scale: int) -> Decimal:
    """A decimal.handling.mode=precise value read without a schema, at the scale its mapping declares;
    raises ValueError saying why when the text is not base64 of at most 32 bytes."""
    try:
        return _unscaled(text, _scale(scale))
    except _Bad as exc:
        raise ValueError(exc.message) from None


def _variable_scale(value: Any) -> Decimal:
    """io.debezium.data.VariableScaleDecimal: {"scale": int, "value": base64 unscaled}."""
    if not isinstance(value, dict):
        raise _Bad(f"expected a {{scale, value}} object for a VariableScaleDecimal, got {_kind(value)}")
    scale, digits = value.get("scale"), value.get("value")
    if not isinstance(scale, int) or isinstance(scale, bool) or abs(scale) > bounded_json.MAX_EXPONENT:
        raise _Bad(f"expected an integer scale, got {_kind(scale)} {scale!r:.20}")
    if not isinstance(digits, str):
        raise _Bad(f"expected a base64 string value, got {_kind(digits)}")
    return _unscaled(digits, scale)


def _base64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise _Bad(f"expected a base64 string, got {_kind(text)}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _Bad(f"not valid base64: {text!r:.40}") from None


def _bytes(value: Any) -> bytes:
    return _base64(value)


def _number(value: Any) -> Decimal:
    """float/double columns: exactly the digits Debezium wrote, as Decimal (never a float)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if value in ("NaN", "Infinity", "-Infinity"):  # Jackson quotes non-finite doubles
        return Decimal(value)
    raise _Bad(f"expected a number, got {_kind(value)}")


def _integer(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _Bad(f"expected an integer for {what}, got {_kind(value)}")


def _date(value: Any) -> date:
    """Days since 1970-01-01 (io.debezium.time.Date, org.apache.kafka.connect.data.Date)."""
    days = _integer(value, "a date (days since epoch)")
    try:
        return _EPOCH_DATE + timedelta(days=days)
    except OverflowError:
        raise _Bad(f"date of {days} days since epoch is out of range") from None


def _timestamp(per_second: int) -> Converter:
    """Epoch integers at a given resolution -> aware UTC datetime; ns are floored to microseconds."""
    what = "epoch " + _UNITS[per_second]

    def convert(value: Any) -> datetime:
        count = _integer(value, what)
        if count == PG_POSITIVE_INFINITY:
            return POSITIVE_INFINITY
        if count == PG_NEGATIVE_INFINITY:
            return NEGATIVE_INFINITY
        micros = count * 1_000_000 // per_second if per_second != 1_000_000 else count
        try:
            return _EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            raise _Bad(f"timestamp {count} ({what}) is out of range") from None

    return convert


def _time_of_day(per_second: int) -> Converter:
    """Time since midnight -> datetime.time; exactly 24:00:00 (PostgreSQL allows it) -> time.max."""
    what = _UNITS[per_second]

    def convert(value: Any) -> time:
        micros = _integer(value, f"a time ({what} since midnight)") * 1_000_000 // per_second
        if micros == _DAY_US:
            return time.max
        if not 0 <= micros < _DAY_US:
            raise _Bad(f"time of {value} {what} since midnight is out of range")
        seconds, micro = divmod(micros, 1_000_000)
        return time(seconds // 3600, seconds // 60 % 60, seconds % 60, micro)

    return convert


def _zoned_timestamp(value: Any) -> datetime:
    """io.debezium.time.ZonedTimestamp: ISO-8601 with offset, up to 9 fraction digits -> aware UTC."""
    if not isinstance(value, str):
        raise _Bad(f"expected an ISO-8601 string for a ZonedTimestamp, got {_kind(value)}")
    if value == "infinity":
        return POSITIVE_INFINITY
    if value == "-infinity":
        return NEGATIVE_INFINITY
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value))
    except ValueError:
        raise _Bad(f"not an ISO-8601 timestamp: {value!r:.60}") from None
    if parsed.tzinfo is None:
        raise _Bad(f"a ZonedTimestamp needs a UTC offset: {value!r:.60}")
    return parsed.astimezone(UTC)


def _zoned_time(value: Any) -> time:
    """io.debezium.time.ZonedTime: 'HH:MM:SS[.fffffffff]<offset>' -> aware time."""
    if not isinstance(value, str):
        raise _Bad(f"expected an ISO-8601 string for a ZonedTime, got {_kind(value)}")
    try:
        parsed = time.fromisoformat(_FRACTION.sub(r"\1", value))
    except ValueError:
        raise _Bad(f"not an ISO-8601 time: {value!r:.60}") from None
    if parsed.tzinfo is None:
        raise _Bad(f"a ZonedTime needs a UTC offset: {value!r:.60}")
    return parsed


def _json(value: Any) -> Any:
    """io.debezium.data.Json (PostgreSQL json/jsonb): the string parsed, decimals exact."""
    if not isinstance(value, str):
        return value
    try:
        return bounded_json.loads(value)
    except bounded_json.JsonRefused as exc:
        raise _Bad(f"not valid JSON ({exc.message}): {value!r:.60}") from None


def _fixed(converter: Converter) -> Callable[[dict[str, Any]], Converter]:
    return lambda _schema: converter


_LOGICAL: dict[str, Callable[[dict[str, Any]], Converter]] = {
    "org.apache.kafka.connect.data.Decimal": _decimal,
    "io.debezium.data.VariableScaleDecimal": _fixed(_variable_scale),
    "io.debezium.time.Date": _fixed(_date),
    "org.apache.kafka.connect.data.Date": _fixed(_date),
    "io.debezium.time.Time": _fixed(_time_of_day(1000)),
    "org.apache.kafka.connect.data.Time": _fixed(_time_of_day(1000)),
    "io.debezium.time.MicroTime": _fixed(_time_of_day(1_000_000)),
    "io.debezium.time.NanoTime": _fixed(_time_of_day(10**9)),
    "io.debezium.time.ZonedTime": _fixed(_zoned_time),
    "io.debezium.time.Timestamp": _fixed(_timestamp(1000)),
    "org.apache.kafka.connect.data.Timestamp": _fixed(_timestamp(1000)),
    "io.debezium.time.MicroTimestamp": _fixed(_timestamp(1_000_000)),
    "io.debezium.time.NanoTimestamp": _fixed(_timestamp(10**9)),
    "io.debezium.time.ZonedTimestamp": _fixed(_zoned_timestamp),
    "io.debezium.data.Json": _fixed(_json),
}
_PRIMITIVE: dict[Any, Converter] = {"float": _number, "double": _number, "bytes": _bytes}


# --- MongoDB Extended JSON -----------------------------------------------------------------------------


def _mongo_document(text: str, field: str) -> dict[str, Any]:
    """A MongoDB document as Debezium writes it: Extended JSON text in any serialization mode."""
    document = _mongo_json(text, field)
    if not isinstance(document, dict):
        raise DecodeError(field, f"expected an Extended JSON document, got {_kind(document)}")
    return document


def _mongo_id(text: str) -> Any:
    """The Mongo key's id: `_id` as Extended JSON ('1234' -> 1234, '"1234"' -> '1234', $oid -> hex)."""
    return _mongo_json(text, "key.id")


def _mongo_json(text: str, field: str) -> Any:
    try:
        return _MONGO_DECODER(text)
    except bounded_json.JsonRefused as exc:
        raise DecodeError(field, f"not valid MongoDB Extended JSON: {exc.message}"[:200]) from None
    except _Bad as exc:
        raise DecodeError(field, exc.message) from None
    except _BSON_ERRORS as exc:
        raise DecodeError(field, f"not valid MongoDB Extended JSON: {exc!r}"[:200]) from None


def _mongo_object(obj: dict[str, Any]) -> Any:
    """One JSON object, bottom-up: an Extended JSON type wrapper ($oid, $date, ...) becomes its value.

    The common wrappers are read here (bson's hook costs 10-25 µs for a decimal or an ISO date, and a
    record may hold thousands); the rest by bson's own hook, with `_from_bson` making the plain Python
    value c360 keeps. Objects without `$` keys (nearly all of them) pass through untouched.
    """
    for name in obj:
        if name[:1] == "$":
            fast = _WRAPPERS.get(name)
            if fast is not None and len(obj) == 1:
                return fast(obj[name])
            if name == "$binary":
                _check_binary(obj[name])
            return _from_bson(json_util.object_hook(obj, _MONGO_JSON))
    return obj


def _number_decimal(value: Any) -> Decimal:
    try:
        return exact_decimal128(value)
    except (ArithmeticError, TypeError):
        raise _Bad(f"$numberDecimal: {value!r:.40} is not a number Decimal128 holds") from None


def _number_int(name: str, digits: int) -> Converter:
    def convert(value: Any) -> int:
        if isinstance(value, str) and len(value) <= digits + 1 and _INTEGER.fullmatch(value):
            return int(value)
        raise _Bad(f"{name}: {value!r:.40} is not an integer of at most {digits} digits")

    return convert


def _number_double(value: Any) -> Decimal:
    try:
        return Decimal(repr(float(value)))
    except (TypeError, ValueError):
        raise _Bad(f"$numberDouble: {value!r:.40} is not a number") from None


def _object_id(value: Any) -> str:
    if isinstance(value, str) and _OBJECT_ID.fullmatch(value):
        return value.lower()
    raise _Bad(f"$oid: {value!r:.40} is not 24 hexadecimal digits")


def _mongo_date(value: Any) -> datetime:
    """`{"$date": ms}`, `{"$date": {"$numberLong": "ms"}}` (already an int here) or ISO-8601 with an
    offset; milliseconds, as BSON keeps them."""
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            return _EPOCH + timedelta(milliseconds=value)
        if isinstance(value, str):
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC)
                return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    except (ValueError, OverflowError):
        pass
    raise _Bad(f"$date: {value!r:.40} is not a time in range (ms since 1970, or ISO-8601 with an offset)")


def _check_binary(value: Any) -> None:
    """bson decodes `$binary` base64 leniently (invalid text becomes empty or wrong bytes): refuse it."""
    text = value.get("base64") if isinstance(value, dict) else value
    try:
        _base64(text)
    except _Bad as exc:
        raise _Bad(f"$binary: {exc.message}") from None


def _from_bson(value: Any) -> Any:
    """BSON types as c360 keeps them: exact decimals, plain ints, hex ids, aware datetimes."""
    kind = type(value)
    if kind is ObjectId:
        return str(value)
    if kind is Int64:
        return int(value)
    if kind is Decimal128:
        return value.to_decimal()
    if kind is float:
        return Decimal(repr(value))
    if isinstance(value, bytes):  # bson Binary subclasses bytes
        return value.as_uuid() if getattr(value, "subtype", 0) == 4 else bytes(value)
    return value  # str, int, datetime, UUID, Timestamp, Regex, Code, MinKey/MaxKey: as bson gives them


_OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")
_WRAPPERS: dict[str, Converter] = {
    "$numberDecimal": _number_decimal,
    "$numberLong": _number_int("$numberLong", 20),
    "$numberInt": _number_int("$numberInt", 11),
    "$numberDouble": _number_double,
    "$oid": _object_id,
    "$date": _mongo_date,
}
_MONGO_DECODER = bounded_json.decoder(object_hook=_mongo_object)


# --- small helpers -------------------------------------------------------------------------------------


def _parse(raw: bytes | None, max_bytes: int, field: str) -> Any:
    """Strict JSON; numbers with a fraction become Decimal so money is never a float."""
    if raw is None:
        return None
    try:
        return bounded_json.loads(bounded_json.text_of(raw, max_bytes))
    except bounded_json.JsonRefused as exc:
        raise DecodeError(field, exc.message) from None


def _unwrap(doc: Any, prefix: str) -> tuple[dict[str, Any] | None, Any, bool]:
    """(schema, payload, enveloped): JsonConverter's {"schema", "payload"} envelope, or a bare value."""
    if not (isinstance(doc, dict) and "schema" in doc and doc.keys() <= _ENVELOPE_KEYS):
        return None, doc, False
    if "payload" not in doc:
        raise DecodeError(prefix + "payload", "missing: a value with a schema envelope needs a payload")
    schema = doc["schema"]
    if schema is not None and not isinstance(schema, dict):
        raise DecodeError(prefix + "schema", f"expected an object or null, got {_kind(schema)}")
    return schema, doc["payload"], True


def _int(value: Any, field: str) -> int | None:
    """ts_* and positions: JSON integers, or numeric strings as some documentation examples show."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and -_INT_BOUND < value < _INT_BOUND:
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and value.adjusted() < _MAX_INT_DIGITS
        and value == value.to_integral_value()
    ):
        return int(value)
    raise DecodeError(
        field, f"expected an integer of at most {_MAX_INT_DIGITS} digits, got {_kind(value)} {value!r:.40}"
    )


def _str(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise DecodeError(field, f"expected a string, got {_kind(value)}")


def _join(field: str, path: list[str]) -> str:
    return ".".join([field, *path]) if path else field


def _kind(value: Any) -> str:
    """JSON's name for a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
