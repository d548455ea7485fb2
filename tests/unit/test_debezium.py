"""The Debezium decoder: every case file to exact values, a corrupt variant of each refused, and each
logical type, envelope and encoding on small hand-made inputs."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ingest.debezium import (
    NEGATIVE_INFINITY,
    PG_NEGATIVE_INFINITY,
    PG_POSITIVE_INFINITY,
    POSITIVE_INFINITY,
    ChangeEvent,
    LogicalMessage,
    Tombstone,
    decode_change,
    decode_connect_value,
    decode_key,
)
from ingest.errors import DecodeError
from tests.unit.debezium_cases import (
    CASES_DIR,
    CONNECT_DECIMAL_FILE,
    CORRUPTIONS,
    EXPECTED,
    FLATTENED_FILES,
    MONGO_FILES,
    MONGO_KEY_FILE,
    MYSQL_KEY_FILE,
    RAW_SOURCE_FIELDS,
)


def _read(name: str) -> bytes:
    return (CASES_DIR / name).read_bytes()


def _decode_file(name: str, value: bytes | None = None) -> Any:
    """Decode a case file (or a corrupt copy of it) with the key and options a real record would have."""
    key, _ = EXPECTED[name]
    if name in MONGO_FILES:
        key = _read(MONGO_KEY_FILE)
    hint = "mongodb" if name in MONGO_FILES else None
    raw = _read(name) if value is None else value
    return decode_change(key, raw, connector=hint, flattened=name in FLATTENED_FILES)


# --- every case file, exactly ---------------------------------------------------------------------------


def test_every_case_file_is_covered() -> None:
    files = {path.name for path in CASES_DIR.glob("*.json")}
    assert files == {*EXPECTED, MYSQL_KEY_FILE, MONGO_KEY_FILE, CONNECT_DECIMAL_FILE}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_case_file_decodes_exactly(name: str) -> None:
    _, expected = EXPECTED[name]
    decoded = _decode_file(name)
    assert decoded == expected
    if isinstance(decoded, ChangeEvent):
        assert decoded.position == expected.source.position
        for row in (decoded.before, decoded.after, decoded.key):
            for value in (row or {}).values():
                assert type(value) is not float


@pytest.mark.parametrize("name", sorted(RAW_SOURCE_FIELDS))
def test_source_block_is_kept_whole(name: str) -> None:
    raw = _decode_file(name).source.raw
    for field, value in RAW_SOURCE_FIELDS[name].items():
        assert raw[field] == value


def test_mongo_values_are_plain_python_types() -> None:
    event = _decode_file("mongo_create_with_schema.json")
    assert type(event.after["_id"]) is int  # {"$numberLong": "1004"}, not bson Int64
    assert type(event.key["id"]) is int


def test_snapshot_boolean_and_string_forms() -> None:
    assert _decode_file("mongo_delete_payload.json").source.snapshot == "true"  # JSON true
    assert _decode_file("mongo_delete_payload.json").source.is_snapshot
    assert _decode_file("pg_update_payload.json").source.snapshot == "false"  # JSON false
    assert not _decode_file("pg_update_payload.json").source.is_snapshot
    assert _decode_file("pg_decimal_mode_string_RECONSTRUCTED.json").source.snapshot == "false"  # "false"
    assert _decode_file("pg_incremental_snapshot_read_payload.json").source.is_snapshot


def test_mysql_key_file() -> None:
    assert decode_key(_read(MYSQL_KEY_FILE)) == {"id": 1001}


def test_mongo_key_file() -> None:
    assert decode_key(_read(MONGO_KEY_FILE), connector="mongodb") == {"id": 1004}
    # Without knowing it is a Mongo key, the id is left as the string the key holds.
    assert decode_key(_read(MONGO_KEY_FILE)) == {"id": "1004"}


def test_connect_decimal_file() -> None:
    # "AJw=" = 0x00 0x9C = unscaled 156, scale "2"
    assert decode_connect_value(_read(CONNECT_DECIMAL_FILE)) == Decimal("1.56")
    with pytest.raises(DecodeError) as caught:
        decode_change(None, _read(CONNECT_DECIMAL_FILE))
    assert caught.value.field == "payload"


def test_flattened_document_needs_the_flattened_flag() -> None:
    with pytest.raises(DecodeError) as caught:
        decode_change(None, _read("mongo_extractnewdocumentstate_output.json"))
    assert caught.value.field == "op"


def test_tombstone_file_as_a_null_kafka_value() -> None:
    assert decode_change(b'{"id": 1}', None) == Tombstone({"id": 1})


# --- corrupt variants ----------------------------------------------------------------------------------

ALL_FILES = sorted({*EXPECTED, MYSQL_KEY_FILE, MONGO_KEY_FILE, CONNECT_DECIMAL_FILE})


def _decode_any(name: str, raw: bytes) -> Any:
    if name in (MYSQL_KEY_FILE, MONGO_KEY_FILE):
        return decode_key(raw, connector="mongodb" if name == MONGO_KEY_FILE else None)
    if name == CONNECT_DECIMAL_FILE:
        return decode_connect_value(raw)
    return _decode_file(name, raw)


@pytest.mark.parametrize("name", ALL_FILES)
def test_truncated_file_is_refused(name: str) -> None:
    raw = _read(name)
    with pytest.raises(DecodeError) as caught:
        _decode_any(name, raw[: len(raw) // 2])
    error = caught.value
    assert error.reason == "decode"
    assert error.field == ("key" if "key" in name else "$")
    assert error.message.startswith("not JSON")


def test_every_file_has_a_corruption() -> None:
    assert set(CORRUPTIONS) == set(ALL_FILES)


@pytest.mark.parametrize("name", ALL_FILES)
def test_corrupt_file_is_refused_naming_the_field(name: str) -> None:
    mutate, field = CORRUPTIONS[name]
    doc = json.loads(_read(name))
    if mutate is None:
        raw = b"[null]"
    else:
        mutate(doc)
        raw = json.dumps(doc).encode()
    with pytest.raises(DecodeError) as caught:
        _decode_any(name, raw)
    assert caught.value.field == field
    assert caught.value.reason == "decode"
    assert caught.value.message


# --- logical types on hand-made rows ---------------------------------------------------------------------


def _schema_event(column: dict[str, Any], value: Any) -> bytes:
    """A create event with a schema envelope whose `after` struct has one column `v` of the given schema."""
    row = {"type": "struct", "optional": True, "field": "after", "fields": [{**column, "field": "v"}]}
    envelope = {
        "type": "struct",
        "fields": [{**row, "field": "before"}, row, {"type": "string", "field": "op"}],
        "name": "t.Envelope",
    }
    payload = {"before": None, "after": {"v": value, "extra": "kept"}, "op": "c"}
    return json.dumps({"schema": envelope, "payload": payload}).encode()


def _after(column: dict[str, Any], value: Any) -> Any:
    event = decode_change(None, _schema_event(column, value))
    assert isinstance(event, ChangeEvent)
    assert event.after["extra"] == "kept"
    return event.after["v"]


def _refused(column: dict[str, Any], value: Any) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode_change(None, _schema_event(column, value))
    return caught.value


DECIMAL = {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}}


@pytest.mark.parametrize(
    ("encoded", "scale", "expected"),
    [
        ("AJw=", "2", Decimal("1.56")),  # 0x009C = 156
        ("AJw=", "0", Decimal("156")),
        ("/2Q=", "2", Decimal("-1.56")),  # 0xFF64 = -156 in two's complement
        ("AA==", "3", Decimal("0.000")),
        ("nA==", "2", Decimal("-1.00")),  # 0x9C alone is negative: -100
    ],
)
def test_connect_decimal_base64(encoded: str, scale: str, expected: Decimal) -> None:
    value = _after({**DECIMAL, "parameters": {"scale": scale}}, encoded)
    assert value == expected and value.as_tuple() == expected.as_tuple()


def test_connect_decimal_keeps_38_digits_exactly() -> None:
    unscaled = -12345678901234567890123456789012345678
    encoded = base64.b64encode(unscaled.to_bytes(17, "big", signed=True)).decode()
    assert _after({**DECIMAL, "parameters": {"scale": "10"}}, encoded) == Decimal(
        "-1234567890123456789012345678.9012345678"
    )


def test_connect_decimal_numeric_format() -> None:
    # JsonConverter decimal.format=NUMERIC writes the same schema with a JSON number
    raw = _schema_event(DECIMAL, 0).replace(b'"v": 0', b'"v": 146.36')
    event = decode_change(None, raw)
    assert event.after["v"] == Decimal("146.36") and type(event.after["v"]) is Decimal
    assert _after(DECIMAL, 12) == Decimal(12)


def test_connect_decimal_refusals() -> None:
    assert _refused(DECIMAL, "A*w=").field == "after.v"
    assert _refused(DECIMAL, "").field == "after.v"
    assert _refused(DECIMAL, True).field == "after.v"
    error = _refused({**DECIMAL, "parameters": {}}, "AJw=")
    assert error.field == "schema.after.v" and "scale" in error.message


def test_variable_scale_decimal() -> None:
    column = {"type": "struct", "name": "io.debezium.data.VariableScaleDecimal", "fields": []}
    assert _after(column, {"scale": 3, "value": "AJw="}) == Decimal("0.156")
    assert _refused(column, {"scale": 3, "value": "!!"}).field == "after.v"
    assert _refused(column, {"value": "AJw="}).field == "after.v"


def test_decimal_handling_double_and_string() -> None:
    raw = _schema_event({"type": "double"}, 0).replace(b'"v": 0', b'"v": 146.36')
    assert decode_change(None, raw).after["v"] == Decimal("146.36")
    assert _after({"type": "double"}, 5) == Decimal(5)
    assert _after({"type": "float"}, "NaN").is_nan()
    assert _after({"type": "string"}, "146.36") == "146.36"
    assert _refused({"type": "double"}, "146.36").field == "after.v"


T = "io.debezium.time."
C = "org.apache.kafka.connect.data."


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (T + "Date", 0, date(1970, 1, 1)),
        (T + "Date", 19000, date(2022, 1, 8)),
        (T + "Date", -1, date(1969, 12, 31)),
        (C + "Date", 19000, date(2022, 1, 8)),
        (T + "Time", 45296789, time(12, 34, 56, 789000)),
        (C + "Time", 45296789, time(12, 34, 56, 789000)),
        (T + "MicroTime", 45296789123, time(12, 34, 56, 789123)),
        (T + "NanoTime", 45296789123456, time(12, 34, 56, 789123)),  # ns truncated
        (T + "MicroTime", 86_400_000_000, time.max),  # PostgreSQL's 24:00:00
        (T + "Timestamp", 1529507596945, _utc(2018, 6, 20, 15, 13, 16, 945000)),
        (C + "Timestamp", 1529507596945, _utc(2018, 6, 20, 15, 13, 16, 945000)),
        (T + "MicroTimestamp", 1529507596945104, _utc(2018, 6, 20, 15, 13, 16, 945104)),
        (T + "NanoTimestamp", 1529507596945104789, _utc(2018, 6, 20, 15, 13, 16, 945104)),
        (T + "MicroTimestamp", -1, _utc(1969, 12, 31, 23, 59, 59, 999999)),
        (T + "NanoTimestamp", -1, _utc(1969, 12, 31, 23, 59, 59, 999999)),  # floored
        (T + "MicroTimestamp", PG_POSITIVE_INFINITY, POSITIVE_INFINITY),
        (T + "MicroTimestamp", PG_NEGATIVE_INFINITY, NEGATIVE_INFINITY),
        (T + "Timestamp", PG_POSITIVE_INFINITY, POSITIVE_INFINITY),
        (T + "NanoTimestamp", PG_NEGATIVE_INFINITY, NEGATIVE_INFINITY),
        (T + "ZonedTimestamp", "2018-06-20T13:13:16.945104Z", _utc(2018, 6, 20, 13, 13, 16, 945104)),
        (T + "ZonedTimestamp", "2018-06-20T13:13:16.945104789Z", _utc(2018, 6, 20, 13, 13, 16, 945104)),
        (T + "ZonedTimestamp", "2018-06-20T15:13:16.9+02:00", _utc(2018, 6, 20, 13, 13, 16, 900000)),
        (T + "ZonedTimestamp", "2018-06-20T13:13:16Z", _utc(2018, 6, 20, 13, 13, 16)),
        (T + "ZonedTimestamp", "infinity", POSITIVE_INFINITY),
        (T + "ZonedTimestamp", "-infinity", NEGATIVE_INFINITY),
        (T + "ZonedTime", "13:13:16.945104789Z", time(13, 13, 16, 945104, tzinfo=UTC)),
    ],
)
def test_time_types(name: str, value: Any, expected: Any) -> None:
    decoded = _after({"type": "int64", "name": name}, value)
    assert decoded == expected
    if isinstance(expected, datetime):
        assert decoded.tzinfo is not None and decoded.utcoffset() == timedelta(0)


def test_infinity_markers_are_datetime_extremes() -> None:
    assert (_utc(9999, 12, 31, 23, 59, 59, 999999), _utc(1, 1, 1)) == (POSITIVE_INFINITY, NEGATIVE_INFINITY)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("io.debezium.time.Date", "2022-01-08"),
        ("io.debezium.time.Date", 10**9),
        ("io.debezium.time.Time", 86_400_001),
        ("io.debezium.time.Time", -1),
        ("io.debezium.time.MicroTimestamp", "1529507596945104"),
        ("io.debezium.time.Timestamp", 10**17),
        ("io.debezium.time.ZonedTimestamp", "2018-06-20T13:13:16"),  # no offset
        ("io.debezium.time.ZonedTimestamp", "yesterday"),
        ("io.debezium.time.ZonedTimestamp", 1529507596945),
        ("io.debezium.data.Json", '{"a": '),
    ],
)
def test_time_and_json_refusals(name: str, value: Any) -> None:
    error = _refused({"type": "int64", "name": name}, value)
    assert error.field == "after.v" and error.reason == "decode"


def test_json_column_is_parsed_with_exact_decimals() -> None:
    column = {"type": "string", "name": "io.debezium.data.Json"}
    assert _after(column, '{"limit": 1500.50, "tags": ["a"]}') == {"limit": Decimal("1500.50"), "tags": ["a"]}


def test_bytes_arrays_maps_and_nested_structs() -> None:
    assert _after({"type": "bytes"}, "AQI=") == b"\x01\x02"
    assert _after({"type": "array", "items": DECIMAL}, ["AJw=", None]) == [Decimal("1.56"), None]
    assert _after({"type": "map", "keys": {"type": "string"}, "values": DECIMAL}, {"a": "AJw="}) == {
        "a": Decimal("1.56")
    }
    nested = {
        "type": "struct",
        "fields": [{**DECIMAL, "field": "amount"}, {"type": "string", "field": "ccy"}],
    }
    assert _after(nested, {"amount": "AJw=", "ccy": "EUR", "new": 1}) == {
        "amount": Decimal("1.56"),
        "ccy": "EUR",
        "new": 1,
    }
    assert _refused(nested, {"amount": "%%"}).field == "after.v.amount"


def test_schema_drift_columns_are_kept_untouched() -> None:
    event = decode_change(None, _schema_event({"type": "int32"}, 7))
    assert event.after == {"v": 7, "extra": "kept"}


def test_without_schema_values_stay_as_json_gives_them() -> None:
    raw = b'{"op": "c", "after": {"price": 146.36, "qty": 3, "due": 19000, "b64": "AJw="}}'
    event = decode_change(None, raw)
    assert event.after == {"price": Decimal("146.36"), "qty": 3, "due": 19000, "b64": "AJw="}
    assert type(event.after["price"]) is Decimal


# --- envelopes, tombstones, messages ---------------------------------------------------------------------


def test_tombstones_in_every_form() -> None:
    assert decode_change(None, None) == Tombstone(None)
    assert decode_change(b'{"id": 7}', None) == Tombstone({"id": 7})
    assert decode_change(b'{"id": 7}', b"null") == Tombstone({"id": 7})
    assert decode_change(b'{"id": 7}', b'{"schema": null, "payload": null}') == Tombstone({"id": 7})
    key = (
        b'{"schema": {"type": "struct", "fields": [{"type": "int32", "field": "id"}]}, "payload": {"id": 7}}'
    )
    assert decode_change(key, None) == Tombstone({"id": 7})
    assert decode_change(b'{"id": "\\"abc\\""}', None, connector="mongodb") == Tombstone({"id": "abc"})


def test_logical_message_is_its_own_type() -> None:
    raw = b"""{"op": "m", "ts_ms": "1700000000000",
        "source": {"connector": "postgresql", "lsn": 99, "snapshot": false},
        "message": {"prefix": "audit", "content": "SGVsbG8="}}"""
    message = decode_change(None, raw)
    assert isinstance(message, LogicalMessage)
    assert (message.prefix, message.content, message.ts_ms) == ("audit", b"Hello", 1700000000000)
    assert message.source.position == (99, 99)
    bad = raw.replace(b"SGVsbG8=", b"not base64!")
    with pytest.raises(DecodeError) as caught:
        decode_change(None, bad)
    assert caught.value.field == "message.content"


def test_ts_fields_as_numbers_or_strings() -> None:
    event = decode_change(None, b'{"op": "d", "before": {"id": 1}, "ts_ms": "17", "source": {"ts_ms": 18}}')
    assert (event.ts_ms, event.source.ts_ms) == (17, 18)
    for bad in (b'"1.5"', b"true", b'"17 "', b"[]"):
        with pytest.raises(DecodeError) as caught:
            decode_change(None, b'{"op": "d", "before": {"id": 1}, "ts_ms": ' + bad + b"}")
        assert caught.value.field == "ts_ms"


@pytest.mark.parametrize(
    ("snapshot", "expected"),
    [
        ("true", "true"),
        ("false", "false"),
        (True, "true"),
        (False, "false"),
        ("last", "last"),
        ("first", "first"),
        ("incremental", "incremental"),
        (None, None),
    ],
)
def test_snapshot_normalized(snapshot: Any, expected: str | None) -> None:
    raw = json.dumps({"op": "r", "after": {"id": 1}, "source": {"snapshot": snapshot}}).encode()
    assert decode_change(None, raw).source.snapshot == expected


def test_legacy_source_fields() -> None:
    event = decode_change(
        None, b'{"op": "c", "after": {}, "source": {"ts_usec": 1601213844074632, "lsn": 5}}'
    )
    assert (event.source.ts_us, event.source.ts_ms, event.source.connector) == (
        1601213844074632,
        1601213844074,
        "postgresql",
    )


def test_positions_order_within_a_connector() -> None:
    def position(source: dict[str, Any]) -> tuple[int, ...] | None:
        raw = json.dumps({"op": "u", "after": {"id": 1}, "source": source}).encode()
        return decode_change(None, raw).position

    pg = {"connector": "postgresql"}
    # B commits after A but holds a lower change LSN: the commit LSN orders them.
    a = position({**pg, "lsn": 200, "sequence": '["100","200"]'})
    b = position({**pg, "lsn": 150, "sequence": '["300","150"]'})
    assert a == (100, 200) and b == (300, 150) and a < b
    assert position({**pg, "lsn": 200, "sequence": '[null,"200"]'}) == (200, 200)
    mysql = {"connector": "mysql", "file": "mysql-bin.000009", "pos": 900, "row": 1}
    assert position(mysql) < position({**mysql, "file": "mysql-bin.000010", "pos": 4, "row": 0})
    assert position({"connector": "mongodb", "ts_ms": 1000, "ord": 2}) == (1000, 2)
    assert position({"connector": "sqlserver"}) is None
    with pytest.raises(DecodeError) as caught:
        position({**pg, "lsn": 1, "sequence": "[1"})
    assert caught.value.field == "source.sequence"


def test_op_refusals() -> None:
    for raw, field in [
        (b'{"before": null, "after": {"id": 1}}', "op"),
        (b'{"op": 3, "after": {"id": 1}}', "op"),
        (b'{"op": "x", "after": {"id": 1}}', "op"),
        (b'{"op": "c", "after": null}', "after"),
        (b'{"op": "c", "after": 12}', "after"),
        (b'{"op": "c", "after": {}, "transaction": {"id": 5}}', "transaction.id"),
        (b"[1, 2]", "$"),
        (b'{"schema": {"type": "struct", "fields": []}}', "payload"),
        (b'{"schema": 5, "payload": {}}', "schema"),
        (b'{"schema": {"type": "string"}, "payload": {"op": "c"}}', "schema"),
    ]:
        with pytest.raises(DecodeError) as caught:
            decode_change(None, raw)
        assert caught.value.field == field, raw


def test_bytes_that_are_not_text_or_too_large() -> None:
    with pytest.raises(DecodeError, match="UTF-8"):
        decode_change(None, b'{"op": "\xff"}')
    with pytest.raises(DecodeError, match="exceeds"):
        decode_change(None, b'{"op": "c", "after": {}}', max_bytes=10)
    with pytest.raises(DecodeError) as caught:
        decode_change(b"x" * 30, b'{"op": "c", "after": {}}', max_bytes=25)
    assert caught.value.field == "key"
    with pytest.raises(DecodeError, match="NaN"):
        decode_change(None, b'{"op": "c", "after": {"x": NaN}}')


# --- MongoDB ---------------------------------------------------------------------------------------------

OID = "5f1b2c3d4e5f607182930a1b"


@pytest.mark.parametrize(
    ("extended", "expected"),
    [
        ('{"$numberLong": "1004"}', 1004),
        ('{"$numberInt": "7"}', 7),
        (f'{{"$oid": "{OID}"}}', OID),
        ('{"$date": 1783101585729}', datetime(2026, 7, 3, 17, 59, 45, 729000, UTC)),
        ('{"$date": "2026-07-03T17:59:45.729Z"}', datetime(2026, 7, 3, 17, 59, 45, 729000, UTC)),
        ('{"$date": {"$numberLong": "1783101585729"}}', datetime(2026, 7, 3, 17, 59, 45, 729000, UTC)),
        ('{"$numberDecimal": "12.30"}', Decimal("12.30")),
        ('{"$numberDouble": "1.1"}', Decimal("1.1")),
        ("12.30", Decimal("12.30")),
        ('{"$binary": "AQI=", "$type": "00"}', b"\x01\x02"),
        ('{"$binary": {"base64": "ABEiM0RVZneImaq7zN3u/w==", "subType": "04"}}',
         uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")),
        ('[{"$numberLong": "1"}, {"n": {"$numberDecimal": "0.1"}}]', [1, {"n": Decimal("0.1")}]),
    ],
)  # fmt: skip
def test_mongo_extended_json_in_every_mode(extended: str, expected: Any) -> None:
    document = '{"_id": {"$oid": "%s"}, "v": %s}' % (OID, extended)  # noqa: UP031
    raw = json.dumps({"op": "c", "after": document, "source": {"connector": "mongodb"}}).encode()
    after = decode_change(None, raw).after
    assert after == {"_id": OID, "v": expected}
    assert type(after["v"]) is type(expected)


def test_mongo_dates_are_aware_utc() -> None:
    raw = json.dumps({"op": "c", "after": '{"d": {"$date": 0}}'}).encode()
    assert decode_change(None, raw).after["d"].utcoffset() == timedelta(0)


def test_mongo_update_description() -> None:
    payload = {
        "op": "u",
        "after": None,  # change streams without the full document
        "updateDescription": {
            "updatedFields": '{"limit": {"$numberDecimal": "2500.00"}, "seen": {"$date": 0}}',
            "removedFields": ["nickname"],
            "truncatedArrays": None,
        },
        "source": {"connector": "mongodb", "ts_ms": 1000, "ord": 3},
    }
    event = decode_change(b'{"id": "{\\"$oid\\": \\"%s\\"}"}' % OID.encode(), json.dumps(payload).encode())
    assert event.after is None and event.key == {"id": OID}
    assert event.updated_fields == {"limit": Decimal("2500.00"), "seen": datetime(1970, 1, 1, tzinfo=UTC)}
    assert event.removed_fields == ("nickname",)
    payload["updateDescription"]["removedFields"] = "nickname"
    with pytest.raises(DecodeError) as caught:
        decode_change(None, json.dumps(payload).encode())
    assert caught.value.field == "updateDescription.removedFields"


@pytest.mark.parametrize(
    ("key_id", "expected"),
    [("1234", 1234), ('"1234"', "1234"), (f'{{"$oid" : "{OID}"}}', OID), ('{"$numberLong": "9"}', 9)],
)
def test_mongo_key_ids(key_id: str, expected: Any) -> None:
    assert decode_key(json.dumps({"id": key_id}).encode(), connector="mongodb") == {"id": expected}


def test_mongo_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(DecodeError) as caught:
        decode_change(None, json.dumps({"op": "c", "after": "[1]"}).encode())
    assert caught.value.field == "after"
    with pytest.raises(DecodeError) as caught:
        decode_change(None, json.dumps({"op": "c", "after": '{"d": {"$date": 253402300800000}}'}).encode())
    assert caught.value.field == "after"  # a date past year 9999


# --- flattened rows (ExtractNewRecordState / ExtractNewDocumentState) ------------------------------------


def test_flattened_row_with_smt_metadata() -> None:
    row = {"id": 5, "name": "Ann", "__op": "u", "__ts_ms": 1700000000123, "__source_ts_ms": 1700000000000}
    row |= {"__table": "customers", "__lsn": 777, "__source_connector": "postgresql", "__deleted": "false"}
    event = decode_change(b'{"id": 5}', json.dumps(row).encode(), flattened=True)
    assert (event.op, event.before, event.after, event.key) == (
        "u",
        None,
        {"id": 5, "name": "Ann"},
        {"id": 5},
    )
    assert event.flattened and event.ts_ms == 1700000000123
    assert (event.source.table, event.source.ts_ms, event.position) == (
        "customers",
        1700000000000,
        (777, 777),
    )


def test_flattened_delete_rewrite_and_tombstone() -> None:
    event = decode_change(None, b'{"id": 5, "__deleted": "true"}', flattened=True)
    assert (event.op, event.before, event.after) == ("d", {"id": 5}, None)
    assert decode_change(b'{"id": 5}', None, flattened=True) == Tombstone({"id": 5})


def test_flattened_row_with_schema_is_typed() -> None:
    schema = {"type": "struct", "fields": [{**DECIMAL, "field": "limit"}], "name": "t.Value"}
    raw = json.dumps({"schema": schema, "payload": {"limit": "AJw=", "__op": "c"}}).encode()
    event = decode_change(None, raw, flattened=True)
    assert (event.op, event.after) == ("c", {"limit": Decimal("1.56")})


# --- keys ------------------------------------------------------------------------------------------------


def test_key_forms() -> None:
    assert decode_key(None) is None
    assert decode_key(b'{"id": 1, "region": "EU"}') == {"id": 1, "region": "EU"}
    key = {"schema": {"type": "struct", "fields": [{**DECIMAL, "field": "n"}]}, "payload": {"n": "AJw="}}
    assert decode_key(json.dumps(key).encode()) == {"n": Decimal("1.56")}
    for raw, field in [(b'"abc"', "key"), (b"{", "key"), (json.dumps({"id": "{"}).encode(), "key.id")]:
        with pytest.raises(DecodeError) as caught:
            decode_key(raw, connector="mongodb")
        assert caught.value.field == field
