"""Query results on the wire: DuckDB types as PostgreSQL type OIDs, and Arrow batches as DataRow messages.

Rows are assembled column-wise by Arrow compute kernels, never a Python loop per row: each column becomes
its text (or binary) form, each value gets its 4-byte length in front, and one element-wise join per
batch lays out `'D' len ncols (len value)*` for every row at once. Text forms are PostgreSQL's own, the
ones its clients parse: booleans `t`/`f`, `2026-11-20 10:00:00.000000+00`, arrays `{a,"b c"}`,
`Infinity`; nested values (structs, maps) travel as JSON.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sql.messages import Column

BOOL, BYTEA, INT8, INT2, INT4, TEXT, JSON_OID = 16, 17, 20, 21, 23, 25, 114
FLOAT4, FLOAT8, UNKNOWN = 700, 701, 705
DATE, TIME, TIMESTAMP, TIMESTAMPTZ, INTERVAL, NUMERIC, UUID = 1082, 1083, 1114, 1184, 1186, 1700, 2950
# Element OID -> array OID, for one-dimensional lists.
ARRAYS = {BOOL: 1000, INT2: 1005, INT4: 1007, INT8: 1016, TEXT: 1009, FLOAT4: 1021, FLOAT8: 1022,
          NUMERIC: 1231, DATE: 1182, TIMESTAMP: 1115, TIMESTAMPTZ: 1185, UUID: 2951}  # fmt: skip
_SCALARS = {
    "BOOLEAN": (BOOL, 1), "TINYINT": (INT2, 2), "SMALLINT": (INT2, 2), "UTINYINT": (INT2, 2),
    "INTEGER": (INT4, 4), "USMALLINT": (INT4, 4), "BIGINT": (INT8, 8), "UINTEGER": (INT8, 8),
    "UBIGINT": (NUMERIC, -1), "HUGEINT": (NUMERIC, -1), "UHUGEINT": (NUMERIC, -1),
    "FLOAT": (FLOAT4, 4), "DOUBLE": (FLOAT8, 8), "VARCHAR": (TEXT, -1), "BLOB": (BYTEA, -1),
    "DATE": (DATE, 4), "TIME": (TIME, 8), "TIMESTAMP": (TIMESTAMP, 8), "TIMESTAMP_NS": (TIMESTAMP, 8),
    "TIMESTAMP_MS": (TIMESTAMP, 8), "TIMESTAMP_S": (TIMESTAMP, 8),
    "TIMESTAMP WITH TIME ZONE": (TIMESTAMPTZ, 8),
    "INTERVAL": (INTERVAL, 16), "UUID": (UUID, 16), "JSON": (JSON_OID, -1), '"NULL"': (TEXT, -1),
}  # fmt: skip
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
_PG_EPOCH_DAYS = 10_957  # 2000-01-01, PostgreSQL's epoch, in days after 1970-01-01
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400_000_000


class UnsupportedFormat(ValueError):
    """The client asked for the binary form of a type this endpoint only sends as text."""


@dataclass(frozen=True)
class Field:
    """A result column: its name, its PostgreSQL type and how the client wants it (0 text, 1 binary)."""

    name: str
    oid: int
    size: int = -1
    modifier: int = -1

    def column(self) -> Column:
        return Column(self.name, self.oid, self.size, self.modifier)


def field_of(name: str, duck_type: str) -> Field:
    """The PostgreSQL type a client sees for a DuckDB type (nested types: JSON)."""
    kind = duck_type.strip()
    if kind in _SCALARS:
        oid, size = _SCALARS[kind]
        return Field(name, oid, size)
    if decimal := _DECIMAL.match(kind):
        precision, scale = int(decimal[1]), int(decimal[2])
        return Field(name, NUMERIC, -1, ((precision << 16) | scale) + 4)
    if (kind.endswith("[]") and kind[:-2] in _SCALARS) or _DECIMAL.match(kind[:-2]):
        element = field_of(name, kind[:-2]).oid
        if element in ARRAYS:
            return Field(name, ARRAYS[element])
    if kind.startswith("ENUM"):
        return Field(name, TEXT)
    return Field(name, JSON_OID)


def data_rows(batch: pa.RecordBatch, fields: list[Field], formats: list[int]) -> bytes:
    """Every row of `batch` as DataRow messages, in order."""
    n, columns = batch.num_rows, []
    if n == 0:
        return b""
    total = np.full(n, 4 + 2, dtype=np.int64)
    for array, f, binary in zip(batch.columns, fields, formats, strict=True):
        values = to_binary(array, f.oid) if binary else to_text(array, f.oid)
        lengths = pc.fill_null(pc.binary_length(values), -1).to_numpy(zero_copy_only=False).astype(np.int64)
        total += 4 + np.maximum(lengths, 0)
        columns.append(_joined([_fixed(lengths.astype(">i4")), pc.fill_null(values, b"")]))
    header = np.zeros(n, dtype=[("kind", "S1"), ("size", ">i4"), ("count", ">i2")])
    header["kind"], header["size"], header["count"] = b"D", total, len(fields)
    rows = _joined([_fixed(header), *columns])
    _, offsets, data = rows.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int32, count=rows.offset + n + 1)
    return data.to_pybytes()[bounds[rows.offset] : bounds[rows.offset + n]]


def _fixed(values: np.ndarray) -> pa.Array:
    """Fixed-width byte records (a numpy array of n records) as an Arrow binary array."""
    width = values.dtype.itemsize
    raw = pa.py_buffer(np.ascontiguousarray(values).view(np.uint8).tobytes())
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(values), [None, raw]).cast(pa.binary())


def _joined(parts: list[pa.Array]) -> pa.Array:
    binaries = [p if p.type == pa.binary() else p.cast(pa.binary()) for p in parts]
    return pc.binary_join_element_wise(*binaries, b"")


def to_text(array: pa.Array, oid: int) -> pa.Array:
    """PostgreSQL's text form of every value (nulls stay null)."""
    kind = array.type
    if pa.types.is_null(kind):
        return pa.nulls(len(array), pa.string())
    if pa.types.is_boolean(kind):
        return pc.if_else(array, "t", "f")
    if pa.types.is_floating(kind):
        text = pc.cast(array, pa.string())
        for python, postgres in (("inf", "Infinity"), ("-inf", "-Infinity"), ("nan", "NaN")):
            text = pc.if_else(pc.equal(text, python), postgres, text)
        return text
    if pa.types.is_timestamp(kind):
        shown = pc.strftime(array, format="%Y-%m-%d %H:%M:%S")
        return pc.binary_join_element_wise(shown, "+00" if kind.tz else "", "") if kind.tz else shown
    if pa.types.is_integer(kind) or pa.types.is_decimal(kind) or pa.types.is_date(kind):
        return pc.cast(array, pa.string())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pc.cast(array, pa.string())
    if (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and oid in ARRAYS.values():
        return _array_text(array)
    if pa.types.is_time(kind):
        return pc.cast(array, pa.string())
    return pa.array([None if v is None else _text_of(v, oid) for v in array.to_pylist()], pa.string())


def _array_text(array: pa.Array) -> pa.Array:
    """A list column as PostgreSQL array literals: `{a,"b c",NULL}`."""
    flat = array.flatten()
    elements = to_text(flat, 0)
    if (
        pa.types.is_string(flat.type)
        or pa.types.is_large_string(flat.type)
        or pa.types.is_string_view(flat.type)
    ):
        quoted = pc.binary_join_element_wise(
            '"', pc.replace_substring_regex(elements, r'(["\\])', r"\\\1"), '"', ""
        )
        plain = pc.and_(
            pc.invert(pc.match_substring_regex(elements, r'(^$|[{},"\\\s])')),
            pc.not_equal(pc.utf8_lower(elements), "null"),
        )
        elements = pc.if_else(pc.fill_null(plain, True), elements, quoted)
    elements = pc.fill_null(elements, "NULL")
    offsets = pc.subtract(array.offsets, array.offsets[0])
    lists = pa.ListArray.from_arrays(offsets, elements)
    joined = pc.binary_join_element_wise("{", pc.binary_join(lists, ","), "}", "")
    return pc.if_else(array.is_null(), pa.nulls(len(array), pa.string()), joined)


def _text_of(value: object, oid: int) -> str:
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if oid == JSON_OID or isinstance(value, dict | list):
        return json.dumps(value, default=_json_default, separators=(",", ":"))
    return str(value)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def to_binary(array: pa.Array, oid: int) -> pa.Array:
    """PostgreSQL's binary form, for the types clients ask it for (integers, floats, booleans, text,
    dates, times); anything else raises `UnsupportedFormat`."""
    widths = {INT2: (pa.int16(), ">i2"), INT4: (pa.int32(), ">i4"), INT8: (pa.int64(), ">i8"),
              FLOAT4: (pa.float32(), ">f4"), FLOAT8: (pa.float64(), ">f8")}  # fmt: skip
    if oid in widths:
        kind, wire = widths[oid]
        return _fixed_values(pc.cast(array, kind), wire)
    if oid == BOOL:
        return _fixed_values(pc.cast(array, pa.uint8()), "u1")
    if oid in (TEXT, JSON_OID) and not (pa.types.is_list(array.type) or pa.types.is_struct(array.type)):
        return to_text(array, oid).cast(pa.binary())
    if oid == DATE:
        days = pc.subtract(pc.cast(array, pa.int32()), _PG_EPOCH_DAYS)
        return _fixed_values(days, ">i4")
    if oid in (TIMESTAMP, TIMESTAMPTZ):
        micros = pc.cast(pc.cast(array, pa.timestamp("us", array.type.tz)), pa.int64())
        return _fixed_values(pc.subtract(micros, _PG_EPOCH_US), ">i8")
    if oid == NUMERIC:
        return pa.array(
            [None if v is None else numeric_binary(Decimal(v)) for v in array.to_pylist()], pa.binary()
        )
    if oid in (ARRAYS[TEXT], ARRAYS[INT8], ARRAYS[INT4]):
        element = {ARRAYS[TEXT]: TEXT, ARRAYS[INT8]: INT8, ARRAYS[INT4]: INT4}[oid]
        values = [None if v is None else _array_binary(v, element) for v in array.to_pylist()]
        return pa.array(values, pa.binary())
    raise UnsupportedFormat(f"binary format of type oid {oid} is not supported: ask for text")


def numeric_binary(value: Decimal) -> bytes:
    """PostgreSQL's binary numeric: base-10000 digits around the decimal point, and the display scale."""
    if not value.is_finite():
        return struct.pack("!hhhh", 0, 0, 0xC000 - 0x10000, 0)
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    scale = max(-exponent, 0)
    text = "".join(map(str, digits)) + "0" * max(exponent, 0)
    text = text.rjust(scale + 1, "0")  # 0.0085: digits "85", scale 4
    whole, fraction = (text[: len(text) - scale] or "0"), text[len(text) - scale :] if scale else ""
    whole = whole.lstrip("0")
    whole = "0" * (-len(whole) % 4) + whole
    fraction += "0" * (-len(fraction) % 4)
    groups = [int(whole[i : i + 4]) for i in range(0, len(whole), 4)]
    groups += [int(fraction[i : i + 4]) for i in range(0, len(fraction), 4)]
    weight = len(whole) // 4 - 1
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    head = struct.pack("!hhhh", len(groups), weight, 0x4000 if sign else 0, scale)
    return head + b"".join(struct.pack("!h", g) for g in groups)


def _array_binary(values: list[object], element: int) -> bytes:
    """A one-dimensional array in PostgreSQL's binary form."""
    head = struct.pack("!iiiii", 1, int(None in values), element, len(values), 1)
    body = b""
    for v in values:
        if v is None:
            body += struct.pack("!i", -1)
            continue
        data = str(v).encode() if element == TEXT else struct.pack("!q" if element == INT8 else "!i", v)
        body += struct.pack("!i", len(data)) + data
    return head + body


def _fixed_values(array: pa.Array, wire: str) -> pa.Array:
    values = pc.fill_null(array, 0).to_numpy(zero_copy_only=False)
    encoded = _fixed(np.asarray(values).astype(wire))
    return pc.if_else(array.is_null(), pa.nulls(len(array), pa.binary()), encoded)
