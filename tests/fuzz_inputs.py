"""Hostile Kafka records for the ingest fuzz tests (tests/unit/test_fuzz_ingest.py) and the long fuzz
run (bench/fuzz_bench.py): arbitrary bytes, and structure-aware mutations of real samples.

Seeds: every Debezium case file in tests/cases/debezium (sent to every mapped table topic), a valid row
of every table mapping in each envelope (plain, JsonConverter schema, MongoDB Extended JSON), and one
record of every JSON source topic from the demo world. A mutation picks a place anywhere in the seed,
including inside the JSON that Debezium's MongoDB events carry as strings, and drops it, retypes it,
replaces it with a huge or odd number, nests it deeply, plants a lone surrogate, an operator or dotted
key, an odd Extended JSON wrapper or bad base64 there; the bytes may then be cut or corrupted too.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from c360.world import generate_world
from ingest.mappings import SourceMapping, TableMapping, load_mapping_file
from ingest.records import SourceRecord

CASES = Path(__file__).resolve().parent / "cases" / "debezium"
MAPPINGS = load_mapping_file().for_topic()
TOPICS = sorted(MAPPINGS)
MAX_BYTES = 1_000_000
Seed = tuple[str, bytes | None, bytes | None]

# Placeholders replaced by raw JSON tokens after json.dumps: numbers Python would not write itself.
RAW_TOKENS = [
    "9" * 70,
    "9" * 5000,
    "-" + "9" * 25,
    "1e1000000",
    "-1e-1000000",
    "1E+6145",
    "123456789012345678901234567890.5",
    "0.000000000000000000000000000000000000001",
    "NaN",
    "Infinity",
    "-0",
    "9223372036854775808",
    "9223372036825200000",
]
ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**63,
    "",
    "x",
    "1234",
    "AJw=",
    "!!!!",
    "====",
    "\ud800",
    "a\udfffb",
    "\ud83d\ude00",
    "\x00",
    "A" * 10_000,
    "2026-13-45T99:99:99Z",
    "2026-01-01T00:00:00",
    "infinity",
    [],
    {},
    [1, [2, [3]]],
    {"$set": {"a": 1}},
    {"a.b": 1},
    {"$numberDecimal": "abc"},
    {"$numberDecimal": "1e100000"},
    {"$numberDecimal": "NaN"},
    {"$numberLong": "9" * 30},
    {"$numberInt": "x"},
    {"$numberDouble": "1e400"},
    {"$date": {"$numberLong": "99999999999999999999"}},
    {"$date": "not a date"},
    {"$date": -(10**15)},
    {"$binary": "!!!!", "$type": "00"},
    {"$binary": {"base64": "AJw", "subType": "00"}},
    {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAAAA==", "subType": "04"}},
    {"$oid": "zz"},
    {"$uuid": "not-a-uuid"},
    {"$regularExpression": {"pattern": "(a+)+$", "options": "x"}},
    {"$timestamp": {"t": -1, "i": 1}},
    {"$minKey": 1},
    {"$code": "while(1){}"},
    {"$dbPointer": {"$ref": "c", "$id": {"$oid": "5d0ca7b8c5e3c4e3e8d3f1a2"}}},
    {"scale": 2, "value": "AJw="},
    {"scale": 10**9, "value": "AJw="},
]
MUTATIONS = ["drop", "drop", "odd", "odd", "odd", "raw", "nest", "key", "key", "text"]
KEYS = ["$set", "$where", "a.b", "..", "$", "\x00", "\ud800", "", "__op", "__deleted", "patch", "schema"]


class _Raw:
    """A raw JSON token (a number Python would not write) to splice in after serializing."""

    def __init__(self, text: str) -> None:
        self.text = text


def _dumps(value: Any, ascii_only: bool) -> str:
    tokens: list[str] = []

    def default(item: object) -> str:
        if isinstance(item, _Raw):
            tokens.append(item.text)
            return f"\x01RAW{len(tokens) - 1}\x01"
        raise TypeError(type(item).__name__)

    text = json.dumps(value, ensure_ascii=ascii_only, default=default)
    for n, token in enumerate(tokens):
        text = text.replace(f'"\\u0001RAW{n}\\u0001"', token).replace(f'"\x01RAW{n}\x01"', token)
    return text


@cache
def seeds() -> tuple[Seed, ...]:
    found: list[Seed] = []
    cases = sorted(CASES.glob("*.json"))
    tables = [t for t, m in MAPPINGS.items() if isinstance(m, TableMapping)]
    for path in cases:
        for topic in tables:
            found.append((topic, b'{"id": 1}', path.read_bytes()))
    for topic in tables:
        found += table_seeds(topic, MAPPINGS[topic])  # type: ignore[arg-type]
    world = generate_world(people=3, events_per_person=20, seed=7)
    seen: set[str] = set()
    for message in world.messages:
        if message.topic in MAPPINGS and message.topic not in seen:
            seen.add(message.topic)
            found.append((message.topic, message.key, message.value))
    for topic, mapping in MAPPINGS.items():
        if isinstance(mapping, SourceMapping) and topic not in seen:
            raise AssertionError(f"no sample of source topic {topic} in the demo world")
    return tuple(found)


_SAMPLE = {
    "customer_id": "CUST-1",
    "account_id": "ACC-1",
    "email": "ann@example.com",
    "phone": "+447911123456",
    "loyalty_id": "L-1",
    "cookie": "ck_1",
    "device_id": "d-1",
}
_KIND_SAMPLE: dict[str, Any] = {
    "text": "x",
    "money": "12.34",
    "integer": 7,
    "date": "2026-01-02",
    "datetime": "2026-01-02T03:04:05Z",
    "items": [{"sku": "S1", "qty": 1}],
    "any": {"street": "1 High St"},
}


def table_seeds(topic: str, mapping: TableMapping) -> list[Seed]:
    """A valid row of the table in the envelopes its connector writes."""
    row: dict[str, Any] = {name: 1 for name in mapping.key}
    for spec in mapping.identifiers:
        if spec.field:
            row[spec.field] = _SAMPLE[spec.type.value]
    for spec in mapping.columns.values():
        if spec.field:
            row[spec.field] = _KIND_SAMPLE[spec.kind]
    if mapping.connector == "mongodb":
        doc = dict(row) | {"_id": {"$oid": "5d0ca7b8c5e3c4e3e8d3f1a2"}}
        doc = {k: ({"$date": v} if isinstance(v, str) and v.endswith("Z") else v) for k, v in doc.items()}
        source = {"connector": "mongodb", "ts_ms": 1767225600000, "ord": 1, "rs": "rs0", "collection": "c"}
        value = {"op": "c", "after": json.dumps(doc), "source": source}
        key = json.dumps({"id": json.dumps({"$oid": "5d0ca7b8c5e3c4e3e8d3f1a2"})})
        return [(topic, key.encode(), json.dumps(value).encode())]
    source = {"connector": "postgresql", "lsn": 123, "ts_ms": 1767225600000, "sequence": '[null,"123"]'}
    plain = {"op": "c", "after": row, "source": source}
    fields = [
        {"field": name, "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal"}
        | {"parameters": {"scale": "2"}}
        if isinstance(value, str) and value == "12.34"
        else {"field": name, "type": "string"}
        for name, value in row.items()
    ]
    with_schema = {
        "schema": {"type": "struct", "fields": [{"field": "after", "type": "struct", "fields": fields}]},
        "payload": plain | {"after": {k: ("BNI=" if v == "12.34" else v) for k, v in row.items()}},
    }
    return [
        (topic, b'{"id": 1}', json.dumps(plain).encode()),
        (topic, b'{"id": 1}', json.dumps(with_schema).encode()),
    ]


def _paths(value: Any, limit: int = 400) -> list[tuple[Any, ...]]:
    """Places in a JSON value (dict keys, list positions), JSON text held in strings included."""
    found: list[tuple[Any, ...]] = [()]
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack and len(found) < limit:
        item, path = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                found.append((*path, key))
                stack.append((inner, (*path, key)))
        elif isinstance(item, list):
            for n, inner in enumerate(item[:20]):
                found.append((*path, n))
                stack.append((inner, (*path, n)))
        elif isinstance(item, str) and item[:1] in "{[" and len(item) < 20_000:
            with contextlib.suppress(ValueError, RecursionError):
                stack.append((json.loads(item), (*path, _Nested())))
    return found


class _Nested:
    """A path step into JSON text held in a string (a MongoDB document in a Debezium event)."""

    def __repr__(self) -> str:
        return "<json>"


def _replace(value: Any, path: tuple[Any, ...], change: Callable[[Any, Any], Any]) -> Any:
    """`value` with the part at `path` changed: change(container, key) returns the new container."""
    if not path:
        return change(None, None)
    step, rest = path[0], path[1:]
    if isinstance(step, _Nested):
        inner = json.loads(value)
        return _dumps(_replace(inner, rest, change), ascii_only=True)
    if not rest:
        return change(value, step)
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[step] = _replace(value[step], rest, change)
    return copy


def _set(new: Any) -> Callable[[Any, Any], Any]:
    def change(container: Any, key: Any) -> Any:
        if container is None:
            return new
        copy = dict(container) if isinstance(container, dict) else list(container)
        copy[key] = new
        return copy

    return change


def _drop(container: Any, key: Any) -> Any:
    if container is None:
        return None
    copy = dict(container) if isinstance(container, dict) else list(container)
    del copy[key]
    return copy


def _add_key(name: str, new: Any) -> Callable[[Any, Any], Any]:
    def change(container: Any, key: Any) -> Any:
        target = container if key is None else container[key]
        if not isinstance(target, dict):
            return _set({name: new})(container, key)
        return _set(target | {name: new})(container, key) if key is not None else target | {name: new}

    return change


def _nest(depth: int, as_list: bool) -> Callable[[Any, Any], Any]:
    """The value wrapped `depth` levels deep, as raw text (json.dumps itself stops near 1,000)."""
    opening, closing = ("[", "]") if as_list else ('{"a":', "}")
    return _set(_Raw(opening * depth + "1" + closing * depth))


# Strategies built once: hypothesis validates and labels every strategy object, and one made per draw
# cost most of an example's time.
_INDEX = st.integers(0, 2**31)
_COUNT = st.integers(1, 3)
_MUTATION = st.sampled_from(MUTATIONS)
_ODD = st.sampled_from(ODD_VALUES)
_ODD_SCALAR = st.sampled_from(ODD_VALUES[:8])
_RAW = st.sampled_from([_Raw(token) for token in RAW_TOKENS])
_DEPTH = st.sampled_from([3, 33, 65, 200, 2000])
_KEY = st.sampled_from(KEYS)
_TEXT = st.text(max_size=30)
_DAMAGE = st.sampled_from(["none"] * 7 + ["cut", "flip", "null"])
_BYTE = st.integers(0, 255)


def _pick(draw: st.DrawFn, items: list[Any] | tuple[Any, ...]) -> Any:
    return items[draw(_INDEX) % len(items)]


@st.composite
def mutated(draw: st.DrawFn) -> SourceRecord:
    """A seed with one to three structure-aware mutations, then maybe byte damage."""
    topic, key, raw = _pick(draw, seeds())
    value: Any = json.loads(raw) if raw is not None else None
    for _ in range(draw(_COUNT)):
        path = _pick(draw, _paths(value))
        kind = draw(_MUTATION)
        if kind == "drop":
            change = _drop
        elif kind == "odd":
            change = _set(draw(_ODD))
        elif kind == "raw":
            change = _set(draw(_RAW))
        elif kind == "nest":
            change = _nest(draw(_DEPTH), draw(st.booleans()))
        elif kind == "key":
            change = _add_key(draw(_KEY), draw(_ODD_SCALAR))
        else:
            change = _set(draw(_TEXT))
        try:
            value = _replace(value, path, change)
        except (KeyError, IndexError, TypeError, ValueError, RecursionError):
            continue  # the path no longer exists after an earlier mutation
    text = _dumps(value, ascii_only=draw(st.booleans()))
    data: bytes | None = text.encode("utf-8", "surrogatepass")
    damage = draw(_DAMAGE)
    if damage == "cut" and data:
        data = data[: draw(_INDEX) % len(data)]
    elif damage == "flip" and data:
        at = draw(_INDEX) % len(data)
        data = data[:at] + bytes([draw(_BYTE)]) + data[at + 1 :]
    elif damage == "null":
        data = None
    record_key = _pick(draw, [key] * len(_ODD_KEYS) + _ODD_KEYS)
    return SourceRecord(topic, 0, draw(_INDEX), record_key, data, draw(timestamps))


_ODD_KEYS: list[bytes | None] = [None, b"", b"{", b'{"id": "\\"x\\""}', b'{"id": 1e999999}']
timestamps = st.sampled_from([1_767_225_600_000, 0, -1, 2**63 - 1, -(2**63)])

arbitrary = st.builds(
    SourceRecord,
    st.sampled_from(TOPICS),
    st.just(0),
    st.integers(0, 2**40),
    st.none() | st.binary(max_size=64),
    st.none() | st.binary(max_size=2048),
    timestamps,
)
